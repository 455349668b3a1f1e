"""Mail classes from subject and body: a hashing vectoriser and a linear model with probabilities.

scikit-learn trains it (``SGDClassifier(loss="log_loss")`` on hashed words, word pairs and
character n-grams): the hashing has no vocabulary to keep, and the classifier learns one mail
at a time with ``partial_fit``, which is what a correction needs. Inference (:meth:`load`,
:meth:`predict`, :meth:`predict_many`, :meth:`probabilities`) runs on numpy alone: the
features come from ``runtime.mail.features`` (the same numbers as scikit-learn's
``HashingVectorizer``) and the probabilities are the linear model's one-vs-rest ones as
``SGDClassifier.predict_proba`` computes them. Importing scikit-learn costs a process about
93 MB, so it is imported only by :meth:`train` and by the first :meth:`learn` (a correction),
which rebuilds the estimator from the weights and writes its new weights back. The model is
trained at build time (``python -m runtime.mail.train``) on the generated
corpus of ``runtime.mail.corpus`` and shipped as ``runtime/mail/data/classifier.npz``::

    model = MailClassifier.load(None)                 # the shipped model
    label, p = model.predict("Factura F-2024-118", "Adjuntamos la factura ...")
    model.learn(subject, body, "support")             # a correction, weighted
    model.save(path)                                  # the deployment's own copy

The file holds only numbers and strings (numpy ``.npz`` read with ``allow_pickle=False``),
so loading a file never runs code from it.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.mail import features
from runtime.mail.corrections import CorrectionMemory
from runtime.mail.features import FeatureRows

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import SGDClassifier

__all__ = ["CLASSES", "SHIPPED_MODEL", "MailClassifier", "UnknownClass", "mail_text"]

CLASSES: tuple[str, ...] = ("invoice", "other", "reminder", "spam", "support")  # sorted
SHIPPED_MODEL = Path(__file__).parent / "data" / "classifier.npz"
FORMAT = "robofleet-mail-classifier/2"
_HALF = features.HALF  # hashed features per bag (words, characters); two of them side by side
_BODY_CHARS = 4000  # a mail's class shows in its first lines; the rest only costs time
_DIGITS = re.compile(r"\d")
# A correction is applied with this weight and repeated (at most _CORRECTION_STEPS times)
# until the corrected mail itself gets its new class with at least _CORRECTION_TARGET.
_CORRECTION_WEIGHT = 5.0
_CORRECTION_STEPS = 10
_CORRECTION_TARGET = 0.75
_CORRECTION_RATE = {"learning_rate": "constant", "eta0": 0.5}


class UnknownClass(ValueError):
    """Raised when a label is not one of :data:`CLASSES`."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label

    def __str__(self) -> str:
        return f"unknown mail class {self.label!r}: expected one of {', '.join(CLASSES)}"


def _normalise(text: str) -> str:
    """Lower case, accents off, every digit a ``0`` (amounts and numbers differ, shapes stay)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _DIGITS.sub("0", plain)


def mail_text(subject: str, body: str) -> str:
    """The text the model reads: the subject twice (it says most), then the body's start."""
    return f"{subject}\n{subject}\n{body[:_BODY_CHARS]}"


def vectorise(texts: Sequence[str]) -> FeatureRows:
    """Rows of hashed features (``len(texts)`` x ``2 * 2**16``), each scaled to unit length.

    Words and word pairs (counted double: a whole word is stronger evidence than one of its
    n-grams), then character 3-5 grams within words, of each :func:`_normalise`-d text.
    """
    return features.vectorise(texts, _normalise)


def _sparse(rows: FeatureRows) -> csr_matrix:
    """The rows as a scipy CSR matrix, for scikit-learn (imports scipy)."""
    import scipy.sparse as sp

    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(rows), rows.width))


def _sgd(seed: int = 0) -> SGDClassifier:
    """The classifier with the settings used both at build time and for corrections.

    Imports scikit-learn (about 93 MB of memory the first time in a process).
    """
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss="log_loss",
        alpha=2e-6,
        max_iter=30,
        tol=None,
        learning_rate="optimal",
        random_state=seed,
    )


def _estimator_of(coef: np.ndarray, intercept: np.ndarray) -> SGDClassifier:
    """An ``SGDClassifier`` ready for ``partial_fit`` corrections, holding these weights."""
    estimator = _sgd()
    # one partial_fit on an empty row allocates the model's state (classes, sizes);
    # the given weights then replace whatever it learnt
    estimator.set_params(**_CORRECTION_RATE)
    empty = _sparse(FeatureRows(np.zeros(0), np.zeros(0, np.int64), np.zeros(2, np.int64),
                                2 * _HALF))  # fmt: skip
    estimator.partial_fit(empty, [CLASSES[0]], classes=list(CLASSES))
    estimator.coef_ = np.array(coef, dtype=np.float64, order="C")
    estimator.intercept_ = np.array(intercept, dtype=np.float64)
    return estimator


def _linear_probabilities(
    rows: FeatureRows, weights: np.ndarray, intercept: np.ndarray
) -> np.ndarray:
    """Rows x classes one-vs-rest probabilities, as ``SGDClassifier.predict_proba`` gives.

    ``weights`` is features x classes. Each class's decision ``x . w + b`` goes through the
    logistic function; each row is then divided by its sum (a row of zeros becomes uniform).
    """
    decision = np.empty((len(rows), len(intercept)))
    for i in range(len(rows)):
        columns, values = rows.row(i)
        decision[i] = values @ weights[columns]
    decision += intercept
    with np.errstate(over="ignore"):  # exp(-x) = inf for a very negative x: probability 0
        prob = 1.0 / (1.0 + np.exp(-decision))
    total = prob.sum(axis=1)
    zero = total == 0
    if zero.any():
        prob[zero, :] = 1.0
        total[zero] = prob.shape[1]
    prob /= total.reshape(-1, 1)
    return prob


def _read_meta(path: Path) -> dict[str, Any]:
    """The ``meta`` of a model file; ``ValueError`` unless it is one of this format."""
    with np.load(path, allow_pickle=False) as saved:
        if "meta" not in saved:
            raise ValueError(f"{path} is not a {FORMAT} model")
        meta = json.loads(str(saved["meta"]))
    if (
        not isinstance(meta, dict)
        or meta.get("format") != FORMAT
        or tuple(meta.get("classes", ())) != CLASSES
    ):
        raise ValueError(f"{path} is not a {FORMAT} model")
    return meta


class MailClassifier:
    """A trained mail classifier: :meth:`predict`, :meth:`learn` and :meth:`save`.

    Safe to share between threads: a prediction, a correction and a save each see the whole
    model before or after a correction, never half of one. ``coef`` (classes x features) and
    ``intercept`` (classes) are the linear model's weights; ``estimator`` is the fitted
    scikit-learn model they came from, if any (else the first :meth:`learn` makes one).
    """

    def __init__(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        corrections: int = 0,
        memory: CorrectionMemory | None = None,
        recipe: Mapping[str, Any] | None = None,
        estimator: SGDClassifier | None = None,
    ) -> None:
        self._set_weights(coef, intercept)
        self._estimator = estimator
        self._memory = memory or CorrectionMemory.empty(2 * _HALF)
        self.corrections = corrections
        #: how the model was trained (corpus size, seeds, corpus digest, library versions)
        self.recipe: dict[str, Any] = dict(recipe or {})
        #: True when loaded from a deployment's file made from an older shipped model
        self.rebased = False
        self._lock = threading.Lock()

    def _set_weights(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        """Keep the weights as features x classes (one contiguous row per feature)."""
        self._weights = np.ascontiguousarray(np.asarray(coef, dtype=np.float64).T)
        self._intercept = np.array(intercept, dtype=np.float64)

    @property
    def coef(self) -> np.ndarray:
        """The linear model's weights, classes x features (float64; a view, do not modify)."""
        return self._weights.T

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @classmethod
    def train(
        cls,
        subjects: Sequence[str],
        bodies: Sequence[str],
        labels: Sequence[str],
        seed: int,
        recipe: Mapping[str, Any] | None = None,
    ) -> MailClassifier:
        """Fit a new model on labelled mails (deterministic for a given ``seed``).

        ``recipe`` (JSON-able) is kept with the model to say how it was made. Raises
        :class:`UnknownClass` for a label outside :data:`CLASSES`.
        """
        for label in set(labels):
            if label not in CLASSES:
                raise UnknownClass(label)
        texts = [mail_text(s, b) for s, b in zip(subjects, bodies, strict=True)]
        features = _sparse(vectorise(texts))
        estimator = _sgd(seed)
        estimator.fit(features, np.asarray(labels))
        if tuple(estimator.classes_) != CLASSES:
            raise ValueError("training set must hold every class of CLASSES")
        estimator.set_params(**_CORRECTION_RATE)
        return cls(estimator.coef_, estimator.intercept_, recipe=recipe, estimator=estimator)

    @classmethod
    def load(cls, path: Path | None = None) -> MailClassifier:
        """Read a model saved by :meth:`save`; ``None`` reads the shipped one.

        A deployment's file made from another shipped model (robofleet was upgraded and its
        model retrained) is rebased: the new shipped weights, with the file's remembered
        corrections kept (when their feature space is the same) and its count of corrections;
        what the old weights had learnt from corrections is dropped. :attr:`rebased` says so.
        Raises ``OSError`` when a file cannot be read and ``ValueError`` when it is not a model
        of this format.
        """
        if path is None:
            return cls._read(SHIPPED_MODEL)
        meta = _read_meta(path)
        if meta.get("recipe") == _read_meta(SHIPPED_MODEL).get("recipe"):
            return cls._read(path)
        model = cls._read(SHIPPED_MODEL)
        if meta.get("features") == 2 * _HALF:
            with np.load(path, allow_pickle=False) as saved:
                model._memory = CorrectionMemory.from_arrays(dict(saved), 2 * _HALF)
        model.corrections = int(meta.get("corrections", 0))
        model.rebased = True
        return model

    @classmethod
    def _read(cls, path: Path) -> MailClassifier:
        meta = _read_meta(path)
        if meta.get("features") != 2 * _HALF:
            raise ValueError(f"{path} hashes {meta.get('features')} features, not {2 * _HALF}")
        with np.load(path, allow_pickle=False) as saved:
            columns = saved["columns"].astype(np.int64)
            values = saved["values"].astype(np.float64)
            intercept = saved["intercept"].astype(np.float64)
            memory = CorrectionMemory.from_arrays(dict(saved), 2 * _HALF)
        coef = np.zeros((len(CLASSES), 2 * _HALF))
        coef[:, columns] = values
        return cls(coef, intercept, int(meta.get("corrections", 0)), memory, meta.get("recipe"))

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (an ``.npz``; the parent directory must exist).

        The file is written next to ``path`` and renamed over it, so a crash leaves the old
        model or the new one, never half of one.
        """
        with self._lock:
            coef = self.coef
            columns = np.flatnonzero(np.any(coef != 0.0, axis=0)).astype(np.int32)
            meta = {
                "format": FORMAT,
                "classes": list(CLASSES),
                "features": 2 * _HALF,
                "corrections": self.corrections,
                "recipe": self.recipe,
            }
            arrays: dict[str, np.ndarray] = {
                "meta": np.asarray(json.dumps(meta)),
                "columns": columns,
                "values": coef[:, columns].astype(np.float32),
                "intercept": self._intercept.astype(np.float32),
                **self._memory.arrays(),
            }
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            np.savez_compressed(out, allow_pickle=False, **arrays)
        partial.replace(path)

    def _probabilities(self, rows: FeatureRows) -> np.ndarray:
        """Rows x classes probabilities: the linear model's, then the remembered corrections."""
        with self._lock:
            linear = _linear_probabilities(rows, self._weights, self._intercept)
            return self._memory.apply(rows, linear)

    def probabilities(self, subject: str, body: str) -> dict[str, float]:
        """Each class's probability for one mail (they sum to 1)."""
        row = self._probabilities(vectorise([mail_text(subject, body)]))[0]
        return {label: float(p) for label, p in zip(CLASSES, row, strict=True)}

    def predict(self, subject: str, body: str) -> tuple[str, float]:
        """The most likely class of a mail and its probability (0..1)."""
        return self.predict_many([(subject, body)])[0]

    def predict_many(self, mails: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
        """:meth:`predict` for many ``(subject, body)`` pairs at once (faster per mail)."""
        if not mails:
            return []
        rows = self._probabilities(vectorise([mail_text(s, b) for s, b in mails]))
        best = rows.argmax(axis=1)
        return [(CLASSES[i], float(row[i])) for i, row in zip(best, rows, strict=True)]

    def learn(self, subject: str, body: str, label: str) -> None:
        """Take a correction: this mail is of class ``label``, and so are mails like it.

        The mail is remembered (see ``runtime.mail.corrections``): a later mail at least half
        alike takes the corrected class. The linear model also learns it, weighted and repeated
        until it gives the mail its new class with a clear probability, so that mails less
        alike move towards it too while the rest of the model barely moves. Takes tens of
        milliseconds; the first correction in a process also imports scikit-learn (about a
        second and 93 MB) to rebuild the estimator from the weights. The new weights are
        written back, so predictions stay numpy-only. Raises :class:`UnknownClass` for a
        label outside :data:`CLASSES`.
        """
        if label not in CLASSES:
            raise UnknownClass(label)
        rows = vectorise([mail_text(subject, body)])
        features = _sparse(rows)
        index = CLASSES.index(label)
        with self._lock:
            if self._estimator is None:
                self._estimator = _estimator_of(self.coef, self._intercept)
            estimator = self._estimator
            for _ in range(_CORRECTION_STEPS):
                row = estimator.predict_proba(features)[0]
                if row.argmax() == index and row[index] >= _CORRECTION_TARGET:
                    break
                weight = [_CORRECTION_WEIGHT]
                estimator.partial_fit(features, [label], sample_weight=weight)
            self._set_weights(estimator.coef_, estimator.intercept_)
            self._memory.add(rows, index)
            self.corrections += 1
