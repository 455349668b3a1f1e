"""Mail classification on held-out mails: accuracy, per-class figures, confusion matrix.

``python -m bench.mail_classify [--mails 1000] [--model PATH] [--results PATH]``

The held-out mails come from ``runtime.mail.corpus`` with the held-out seed and only the
held-out templates (the third paraphrase of every phrase group and every sixth group whole,
never used to train the shipped model), in English, Spanish and French. The model is the shipped
``runtime/mail/data/classifier.npz`` unless ``--model`` names another. Also prints how fast
the model classifies (mails/s, one batch) and how long one correction (``learn``) takes, and
its accuracy on the forty hand-written mails of ``bench.mail_handwritten`` (outside the
generator; an indication, with each miss listed). Writes ``bench/results/mail_classify.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from bench.mail_handwritten import HANDWRITTEN
from bench.report import RESULTS_DIR
from runtime.mail.classify import CLASSES, MailClassifier
from runtime.mail.corpus import HELDOUT_SEED, generate

SEED_TARGET_ACCURACY = 0.90  # the seed's figure (architecture-mvp.md, EmailMonitor)
MIN_HELDOUT = 200


def evaluate(model: MailClassifier, mails: int) -> dict[str, Any]:
    """Classify ``mails`` held-out mails and return the figures (fractions 0..1)."""
    corpus = generate(mails, HELDOUT_SEED, "heldout")
    truth = [m.label for m in corpus]
    started = time.perf_counter()
    predicted = [label for label, _ in model.predict_many([(m.subject, m.body) for m in corpus])]
    elapsed = time.perf_counter() - started
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(CLASSES), zero_division=0
    )
    per_language = {
        lang: accuracy_score(
            [t for t, m in zip(truth, corpus, strict=True) if m.language == lang],
            [p for p, m in zip(predicted, corpus, strict=True) if m.language == lang],
        )
        for lang in sorted({m.language for m in corpus})
    }
    handwritten = model.predict_many([(subject, body) for _, subject, body in HANDWRITTEN])
    misses = [
        {"class": label, "predicted": got, "probability": round(p, 3), "subject": subject}
        for (label, subject, _), (got, p) in zip(HANDWRITTEN, handwritten, strict=True)
        if got != label
    ]
    learn_ms = []
    for sample in corpus[:5]:  # each corrected to another class
        learn_started = time.perf_counter()
        model.learn(sample.subject, sample.body, "other" if sample.label != "other" else "spam")
        learn_ms.append((time.perf_counter() - learn_started) * 1000)
    return {
        "mails": mails,
        "accuracy": accuracy_score(truth, predicted),
        "accuracy_by_language": per_language,
        "classes": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(CLASSES)
        },
        "confusion": confusion_matrix(truth, predicted, labels=list(CLASSES)).tolist(),
        "handwritten": {
            "mails": len(HANDWRITTEN),
            "accuracy": 1 - len(misses) / len(HANDWRITTEN),
            "misses": misses,
        },
        "mails_per_s": mails / elapsed,
        "learn_ms": {"median": statistics.median(learn_ms), "max": max(learn_ms)},
    }


def table(result: dict[str, Any]) -> str:
    """The figures as the plain-text report the command prints."""
    lines = [
        f"held-out mails: {result['mails']} (templates and seed not used in training)",
        f"accuracy: {result['accuracy']:.1%} (seed target > {SEED_TARGET_ACCURACY:.0%}); "
        + ", ".join(f"{k} {v:.1%}" for k, v in result["accuracy_by_language"].items()),
        "",
        f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for label, row in result["classes"].items():
        lines.append(
            f"{label:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}"
            f"{row['support']:>9}"
        )
    lines += ["", "confusion (rows: true class, columns: predicted)"]
    lines.append(" " * 10 + "".join(f"{c:>9}" for c in CLASSES))
    for label, row in zip(CLASSES, result["confusion"], strict=True):
        lines.append(f"{label:<10}" + "".join(f"{n:>9}" for n in row))
    hand = result["handwritten"]
    lines += ["", f"hand-written mails (not generated): {hand['accuracy']:.1%} of {hand['mails']}"]
    lines += [
        f"  missed: {m['class']} -> {m['predicted']} ({m['probability']:.2f}) {m['subject']!r}"
        for m in hand["misses"]
    ]
    lines += [
        "",
        f"classified {result['mails_per_s']:.0f} mails/s (one batch); "
        f"a correction (learn) took {result['learn_ms']['median']:.0f} ms "
        f"(median of 5; max {result['learn_ms']['max']:.0f} ms)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mails", type=int, default=1000, help=f"held-out mails (at least {MIN_HELDOUT})"
    )
    parser.add_argument("--model", type=Path, help="a saved model (default: the shipped one)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "mail_classify.json")
    args = parser.parse_args(argv)
    if args.mails < MIN_HELDOUT:
        parser.error(f"--mails must be at least {MIN_HELDOUT}")
    result = evaluate(MailClassifier.load(args.model), args.mails)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
