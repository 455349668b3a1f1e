"""Build step: generate the labelled corpus and write the shipped classifier.

``python -m runtime.mail.train [--mails 9000] [--out runtime/mail/data/classifier.npz]``
``python -m runtime.mail.train --check``: retrain and exit 1 unless the result is
byte-identical to the shipped file (it is, on the same scikit-learn and numpy versions).

Deterministic: the corpus seed and the classifier seed are fixed. The written file is
committed; nothing is trained or downloaded when robofleet runs. The model keeps its recipe
(corpus size, seeds, the corpus digest, library versions), so a test can tell a model that
no longer matches its generator.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import sklearn

from runtime.mail.classify import SHIPPED_MODEL, MailClassifier
from runtime.mail.corpus import TRAIN_SEED, digest, generate

TRAIN_MAILS = 9000
MODEL_SEED = 7


def build(mails: int = TRAIN_MAILS) -> MailClassifier:
    """Train the classifier on ``mails`` generated training mails (no held-out template)."""
    corpus = generate(mails, TRAIN_SEED, "train")
    recipe = {
        "mails": mails,
        "corpus_seed": TRAIN_SEED,
        "model_seed": MODEL_SEED,
        "corpus_sha256": digest(corpus),
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
    }
    return MailClassifier.train(
        [m.subject for m in corpus],
        [m.body for m in corpus],
        [m.label for m in corpus],
        seed=MODEL_SEED,
        recipe=recipe,
    )


def main(argv: list[str] | None = None) -> int:
    """Train and write the model file (or, with ``--check``, compare it); prints the outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=TRAIN_MAILS)
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = Path(scratch) / "classifier.npz"
            build(args.mails).save(fresh)
            same = fresh.read_bytes() == args.out.read_bytes()
        print(f"{args.out}: {'reproduced' if same else 'DIFFERS from a fresh build'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build(args.mails).save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {args.mails} mails)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
