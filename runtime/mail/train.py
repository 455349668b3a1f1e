"""Build step: generate the labelled corpus and write the shipped classifier.

``python -m runtime.mail.train [--mails 6000] [--out runtime/mail/data/classifier.npz]``

Deterministic: the corpus seed and the classifier seed are fixed, so running it again on the
same scikit-learn and numpy versions writes the same weights. The written file is committed;
nothing is trained or downloaded when robofleet runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runtime.mail.classify import SHIPPED_MODEL, MailClassifier
from runtime.mail.corpus import TRAIN_SEED, generate

TRAIN_MAILS = 6000
MODEL_SEED = 7


def build(mails: int = TRAIN_MAILS) -> MailClassifier:
    """Train the classifier on ``mails`` generated training mails (no held-out template)."""
    corpus = generate(mails, TRAIN_SEED, "train")
    return MailClassifier.train(
        [m.subject for m in corpus], [m.body for m in corpus], [m.label for m in corpus],
        seed=MODEL_SEED,
    )


def main(argv: list[str] | None = None) -> None:
    """Train and write the model file; prints where it went and its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=TRAIN_MAILS)
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build(args.mails).save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {args.mails} mails)")


if __name__ == "__main__":
    main()
