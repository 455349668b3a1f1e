"""The classifier's numpy inference equals scikit-learn's, and imports no scikit-learn.

The reference is what ``runtime/mail/classify.py`` computed before inference moved to numpy:
two scikit-learn ``HashingVectorizer`` bags (words 1-2 grams, ``char_wb`` 3-5 grams), the
words doubled, stacked and L2-normalised; ``SGDClassifier.predict_proba``; and the correction
memory's similarities as a scipy sparse product.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from runtime.mail import classify
from runtime.mail.classify import CLASSES, MailClassifier, mail_text
from runtime.mail.corpus import HELDOUT_SEED, generate
from runtime.mail.features import FeatureRows, bucket_of

HELD_OUT = 1000  # the held-out set of bench.mail_classify

_WORDS = HashingVectorizer(
    n_features=2**16, preprocessor=classify._normalise, ngram_range=(1, 2),
    alternate_sign=False, norm=None,
)  # fmt: skip
_CHARS = HashingVectorizer(
    n_features=2**16, preprocessor=classify._normalise, analyzer="char_wb",
    ngram_range=(3, 5), alternate_sign=False, norm=None,
)  # fmt: skip

ODD_TEXTS = [
    "",
    " ",
    "\n\n",
    "a b c d e",
    "a",
    "I o u y",
    "😀",
    "😀😀 🎉 thanks 👍🏽 ok",
    "請求書 第118号 お支払い期限は三月末です",
    "发票 INV-2025-0042 请查收",
    "Ελληνικά κείμενο ΤΙΜΟΛΟΓΙΟ",
    "Привет, счёт № 42 во вложении",
    "فاتورة رقم ١٢٣",
    "Factura nº 118: importe 1.250,00 € — vencimiento 30/04",
    "Çà et là, l'élève naïve à Noël; ÉTÉ Ångström Øre ß ﬁne ｆｕｌｌ",
    "e\u0301te\u0301 combining accents",
    "x" * 5000,
    "supercalifragilistic" * 300,
    "word\tand\ttabs  and   spaces\r\nand\x0bvertical\x0cfeeds\u00a0nbsp\u2003em\u2028line",
    "under_score snake_case_words __dunder__ 123 4567 12a b34",
    "ab",
    "ab cd",
    "http://example.com/path?q=1&r=2 mail@example.com +34 600 000 000",
    "\x00\x01 control \x1c\x1d\x1e\x1f separators",
]


def reference_rows(texts: list[str]) -> sp.csr_matrix:
    """scikit-learn's features, as ``classify.vectorise`` computed them with scikit-learn."""
    stacked = sp.hstack([2.0 * _WORDS.transform(texts), _CHARS.transform(texts)], format="csr")
    return normalize(stacked)


def as_csr(rows: FeatureRows) -> sp.csr_matrix:
    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(rows), rows.width))


def assert_same_rows(texts: list[str]) -> None:
    expected = reference_rows(texts)
    expected.sort_indices()
    got = classify.vectorise(texts)
    assert got.width == expected.shape[1] == 2 * 2**16
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data, expected.data)  # bit for bit, not approximately


@pytest.fixture(scope="module")
def held_out_mails():
    return generate(HELD_OUT, HELDOUT_SEED, "heldout")


@pytest.fixture(scope="module")
def shipped() -> MailClassifier:
    return MailClassifier.load(None)


def test_features_equal_scikit_learn_for_every_held_out_mail(held_out_mails):
    assert_same_rows([mail_text(m.subject, m.body) for m in held_out_mails])


def test_features_equal_scikit_learn_for_odd_text():
    assert_same_rows(ODD_TEXTS)
    for text in ODD_TEXTS:  # and one at a time (rows do not leak into each other)
        assert_same_rows([text])


def test_features_equal_scikit_learn_for_words_straddling_the_body_cut():
    cut = classify._BODY_CHARS
    for offset in range(-6, 7):
        body = "a" * (cut + offset) + " facturación pendiente " + "ñandú " * 5
        assert_same_rows([mail_text("Recordatorio", body)])
    long_word = "Zahlungserinnerung" * 400  # one word running across the cut
    assert_same_rows([mail_text("Mahnung", long_word)])


def test_an_empty_text_gives_an_empty_row():
    rows = classify.vectorise(["", "  \n "])
    assert list(rows.indptr) == [0, 0, 0] and len(rows.data) == 0


def test_the_hash_bucket_equals_scikit_learns_including_minus_two_to_the_31():
    from sklearn.utils.murmurhash import murmurhash3_32

    grams = ["abc", "é ñ", "😀x", "中文", " ab ", "factura 000"]
    expected = [abs(int(murmurhash3_32(g.encode("utf-8"), 0))) % 2**16 for g in grams]
    assert list(bucket_of(grams)) == expected
    # abs(-2**31) is 2**31 in scikit-learn's special case too: both give column 0 here
    assert (2**31 - 1 - (2**16 - 1)) % 2**16 == 2**31 % 2**16 == 0


def test_a_lone_surrogate_is_refused_as_scikit_learn_refuses_it():
    with pytest.raises(UnicodeEncodeError):
        classify.vectorise(["broken \udc80 header"])
    with pytest.raises(UnicodeEncodeError):
        reference_rows(["broken \udc80 header"])


def test_predictions_equal_scikit_learns_on_held_out_mails(held_out_mails, shipped):
    pairs = [(m.subject, m.body) for m in held_out_mails]
    estimator = classify._estimator_of(shipped.coef, shipped._intercept)
    expected = estimator.predict_proba(reference_rows([mail_text(s, b) for s, b in pairs]))
    got = shipped.predict_many(pairs)
    assert [label for label, _ in got] == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert np.allclose([p for _, p in got], expected.max(axis=1), rtol=0, atol=1e-9)
    for (subject, body), row in list(zip(pairs, expected, strict=True))[:50]:
        probabilities = shipped.probabilities(subject, body)
        assert np.allclose(list(probabilities.values()), row, rtol=0, atol=1e-9)


def test_predictions_with_corrections_equal_scikit_learn_and_scipy(held_out_mails, shipped):
    model = copy.deepcopy(shipped)
    for mail, label in zip(held_out_mails[:12], CLASSES * 3, strict=False):
        model.learn(mail.subject, mail.body, label)
    assert len(model._memory) == 12
    # after learning, the numpy weights are the estimator's, and predictions follow them
    assert np.array_equal(model.coef, model._estimator.coef_)
    pairs = [(m.subject, m.body) for m in held_out_mails[:300]]
    reference = reference_rows([mail_text(s, b) for s, b in pairs])
    linear = model._estimator.predict_proba(reference)
    rows = FeatureRows(reference.data, reference.indices.astype(np.int64),
                       reference.indptr.astype(np.int64), reference.shape[1])  # fmt: skip
    expected = model._memory.apply(rows, linear)
    got = model.predict_many(pairs)
    assert [label for label, _ in got] == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert np.allclose([p for _, p in got], expected.max(axis=1), rtol=0, atol=1e-9)
    # the corrected mails themselves take their corrected classes
    for mail, label in zip(held_out_mails[:12], CLASSES * 3, strict=False):
        assert model.predict(mail.subject, mail.body)[0] == label


def test_row_similarities_equal_scipys(held_out_mails):
    texts = [mail_text(m.subject, m.body) for m in held_out_mails[:200]]
    rows = classify.vectorise(texts + ["", "ab"])
    memory = rows.take(np.arange(0, len(rows), 7))
    expected = (as_csr(rows) @ as_csr(memory).T).toarray()
    assert np.allclose(rows.dot(memory), expected, rtol=0, atol=1e-12)
    assert rows.dot(FeatureRows.empty(rows.width)).shape == (len(rows), 0)


def test_classifying_imports_neither_scikit_learn_nor_scipy():
    script = textwrap.dedent(
        """
        import sys
        from runtime.mail.classify import MailClassifier
        model = MailClassifier.load(None)
        model.predict("Invoice INV-2025-0042", "Please find attached invoice INV-2025-0042.")
        model.predict_many([("Meeting", "See you tomorrow"), ("", "")])
        model.probabilities("Reminder", "Your payment is overdue")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy"))
        print(",".join(loaded) or "none")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "none"
