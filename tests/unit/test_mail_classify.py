"""The mail class model: shipped file, held-out accuracy, corrections that stick, safe files."""

from __future__ import annotations

import copy
import json
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bench import mail_classify
from runtime.mail import classify
from runtime.mail.classify import CLASSES, MailClassifier, UnknownClass
from runtime.mail.corpus import HELDOUT_SEED, LANGUAGES, TRAIN_SEED, digest, generate, held_out
from runtime.mail.corrections import FLOOR

WEBINAR = (
    "Webinar invitation: cloud security best practices",
    "Hello,\n\nJoin our webinar on 3 March at 16:00 CET to learn cloud security best practices "
    "from our engineers. Register with the link in the calendar invitation.\n\n"
    "The Contoso training team",
)
LATER_WEBINAR = (
    "Webinar invitation: backup strategies",
    "Hello,\n\nJoin our webinar on 12 May at 11:00 CET to learn backup strategies from our "
    "engineers. Register with the link in the calendar invitation.\n\nThe Contoso training team",
)
INVOICE = (
    "Invoice INV-2025-0042",
    "Dear customer,\n\nPlease find attached invoice INV-2025-0042 for 1,250.00 EUR, payable "
    "within 30 days by bank transfer.\n\nKind regards,\nGlobex Ltd",
)


@pytest.fixture(scope="module")
def shipped() -> MailClassifier:
    return MailClassifier.load(None)


def accuracy(model: MailClassifier, mails) -> float:
    predicted = model.predict_many([(m.subject, m.body) for m in mails])
    return sum(p == m.label for (p, _), m in zip(predicted, mails, strict=True)) / len(mails)


def test_shipped_model_meets_the_seed_accuracy_on_held_out_mails(shipped):
    mails = generate(250, HELDOUT_SEED, "heldout")
    assert {m.label for m in mails} == set(CLASSES)
    assert {m.language for m in mails} == {"en", "es", "fr"}
    assert accuracy(shipped, mails) > 0.90


def test_shipped_model_was_built_from_the_current_generator(shipped):
    # python -m runtime.mail.train --check retrains and compares the bytes; this cheaper check
    # catches phrases edited without rebuilding the model
    recipe = shipped.recipe
    assert recipe["corpus_seed"] == TRAIN_SEED
    assert recipe["corpus_sha256"] == digest(generate(recipe["mails"], TRAIN_SEED, "train"))


def test_held_out_mails_share_no_sentence_with_training_mails():
    train_text = "\n".join(m.subject + "\n" + m.body for m in generate(600, TRAIN_SEED, "train"))
    for phrases in LANGUAGES.values():
        for pools in phrases.CLASSES.values():
            held = held_out(pools["sentences"]) + held_out(pools["subjects"])
            assert len(held) >= 8
            for template in held:
                if "{" not in template:
                    assert template not in train_text


def test_prediction_is_a_known_class_with_a_probability(shipped):
    label, probability = shipped.predict(*INVOICE)
    assert label == "invoice"
    assert 0.5 < probability <= 1.0
    assert sum(shipped.probabilities(*INVOICE).values()) == pytest.approx(1.0)
    assert shipped.predict_many([]) == []
    label, probability = shipped.predict("", "")
    assert label in CLASSES and 0.0 < probability <= 1.0


def test_a_correction_changes_the_class_of_a_similar_later_mail(tmp_path):
    # an internal training webinar: whatever the shipped model calls it, the user may say
    # otherwise, and the next webinar of the series (other topic, date, time) follows; tried
    # with each class the model gave neither of them
    shipped = MailClassifier.load(None)
    given = {shipped.predict(*WEBINAR)[0], shipped.predict(*LATER_WEBINAR)[0]}
    held_out_mails = generate(200, HELDOUT_SEED, "heldout")
    before = accuracy(shipped, held_out_mails)
    targets = [c for c in CLASSES if c not in given]
    assert len(targets) >= 3
    for target in targets:
        model = copy.deepcopy(shipped)

        model.learn(*WEBINAR, target)

        assert model.predict(*WEBINAR)[0] == target
        label, probability = model.predict(*LATER_WEBINAR)
        # sure enough to pass a confidence threshold, so config rules do not override it
        assert (label, probability >= FLOOR) == (target, True)
        # one correction does not unlearn the rest
        assert model.predict(*INVOICE)[0] == "invoice"
        assert accuracy(model, held_out_mails) >= before - 0.02
    # and it survives a restart
    path = tmp_path / "model.npz"
    model.save(path)
    reloaded = MailClassifier.load(path)
    assert reloaded.predict(*LATER_WEBINAR)[0] == target
    assert reloaded.corrections == 1


def test_a_deployment_file_from_an_older_shipped_model_is_rebased_keeping_corrections(
    tmp_path, shipped
):
    model = copy.deepcopy(shipped)
    target = next(c for c in CLASSES if c != shipped.predict(*LATER_WEBINAR)[0])
    model.learn(*WEBINAR, target)
    model.recipe = {**model.recipe, "corpus_sha256": "an older corpus"}
    path = tmp_path / "model.npz"
    model.save(path)

    upgraded = MailClassifier.load(path)

    assert upgraded.rebased and upgraded.corrections == 1
    assert upgraded.recipe == shipped.recipe
    assert upgraded.predict(*LATER_WEBINAR)[0] == target  # the remembered correction
    assert upgraded.predict(*INVOICE) == shipped.predict(*INVOICE)  # the new weights
    assert not MailClassifier.load(None).rebased


def test_corrections_hashed_into_another_feature_space_are_dropped_on_rebase(tmp_path):
    path = tmp_path / "model.npz"
    meta = {
        "format": classify.FORMAT,
        "classes": list(CLASSES),
        "features": 12345,
        "corrections": 3,
        "recipe": {"corpus_sha256": "an older corpus"},
    }
    np.savez(path, meta=np.asarray(json.dumps(meta)), columns=np.zeros(0, dtype=np.int32))
    upgraded = MailClassifier.load(path)
    assert upgraded.rebased and upgraded.corrections == 3
    assert upgraded.predict(*INVOICE)[0] == "invoice"
    meta["recipe"] = MailClassifier.load(None).recipe  # same recipe, other features: refused
    np.savez(path, meta=np.asarray(json.dumps(meta)))
    with pytest.raises(ValueError, match="features"):
        MailClassifier.load(path)


def test_correcting_the_same_mail_again_keeps_the_latest_class():
    model = MailClassifier.load(None)
    model.learn(*WEBINAR, "reminder")
    model.learn(*WEBINAR, "support")
    assert model.predict(*LATER_WEBINAR)[0] == "support"


def test_predictions_run_alongside_corrections_from_other_threads(shipped):
    model = copy.deepcopy(shipped)
    mails = [(m.subject, m.body) for m in generate(20, HELDOUT_SEED, "heldout")]

    def predict_all() -> list[tuple[str, float]]:
        return [model.predict(subject, body) for subject, body in mails]

    with ThreadPoolExecutor(max_workers=3) as pool:
        predicting = [pool.submit(predict_all) for _ in range(2)]
        for subject, body in mails[:4]:
            model.learn(subject, body, "support")
        answers = [f.result() for f in predicting]
    assert all(label in CLASSES for run in answers for label, _ in run)
    assert model.corrections == 4
    assert all(model.predict(s, b)[0] == "support" for s, b in mails[:4])


def test_unknown_class_is_refused_and_pickles():
    model = MailClassifier.load(None)
    with pytest.raises(UnknownClass, match="unknown mail class 'urgent'"):
        model.learn(*INVOICE, "urgent")
    error = pickle.loads(pickle.dumps(UnknownClass("urgent")))
    assert error.label == "urgent"


def test_save_round_trip_keeps_predictions(tmp_path, shipped):
    path = tmp_path / "model.npz"
    shipped.save(path)
    reloaded = MailClassifier.load(path)
    for mail in generate(20, HELDOUT_SEED, "heldout"):
        label, probability = shipped.predict(mail.subject, mail.body)
        again = reloaded.predict(mail.subject, mail.body)
        assert again[0] == label
        assert again[1] == pytest.approx(probability, abs=1e-4)
    assert not list(tmp_path.glob("*.partial"))


def test_a_file_holding_pickled_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError):
        MailClassifier.load(path)


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.asarray(json.dumps({"format": "something-else"})))
    with pytest.raises(ValueError, match="is not a"):
        MailClassifier.load(path)


def test_training_is_deterministic():
    mails = generate(100, TRAIN_SEED, "train")
    args = ([m.subject for m in mails], [m.body for m in mails], [m.label for m in mails])
    first = MailClassifier.train(*args, seed=3)
    second = MailClassifier.train(*args, seed=3)
    assert np.array_equal(first.coef, second.coef)
    with pytest.raises(UnknownClass):
        MailClassifier.train(["s"], ["b"], ["urgent"], seed=3)


def test_benchmark_prints_accuracy_per_class_figures_and_confusion(tmp_path, capsys):
    results = tmp_path / "mail_classify.json"
    assert mail_classify.main(["--mails", "200", "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy:" in printed and "confusion" in printed
    figures = json.loads(results.read_text())
    assert figures["mails"] == 200
    assert set(figures["classes"]) == set(CLASSES)
    assert sum(map(sum, figures["confusion"])) == 200
    assert 0.0 <= figures["accuracy"] <= 1.0
    assert figures["handwritten"]["mails"] == 40
    assert "hand-written mails" in printed
