"""Corrected mails, remembered so that a later mail like one of them takes its corrected class.

A correction also moves the linear model (``MailClassifier.learn``), but only as far as one
mail can without unlearning the rest; the memory makes the rule a user expects hold exactly:
a later mail whose features are at least :data:`SIMILAR` alike (cosine, 0..1) to a corrected
mail gets that mail's class. Only hashed feature vectors are kept, never the text. The memory
keeps the latest :data:`KEEP` corrections; correcting the same mail again replaces it.
Rows are :class:`~runtime.mail.features.FeatureRows` (numpy arrays, no scipy).
"""

from __future__ import annotations

import numpy as np

from runtime.mail.features import FeatureRows

__all__ = ["FLOOR", "KEEP", "SIMILAR", "CorrectionMemory"]

SIMILAR = 0.5  # different-class generated mails are almost never this alike (< 1 in 10,000)
FLOOR = 0.75  # the least probability a remembered class gets
KEEP = 5000
_SAME_MAIL = 0.99


class CorrectionMemory:
    """Unit-length feature rows of corrected mails and their class indices."""

    def __init__(self, rows: FeatureRows, labels: np.ndarray) -> None:
        self.rows = rows
        self.labels = np.asarray(labels, dtype=np.int64)

    @classmethod
    def empty(cls, features: int) -> CorrectionMemory:
        """A memory with no correction, for rows of ``features`` columns."""
        return cls(FeatureRows.empty(features), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: FeatureRows, label: int) -> None:
        """Remember one corrected mail (a 1 x features unit row) as class index ``label``."""
        if len(self):
            keep = row.dot(self.rows)[0] < _SAME_MAIL
            self.rows, self.labels = self.rows.take(keep), self.labels[keep]
        rows = FeatureRows.stack([self.rows, row], self.rows.width)
        self.rows = rows.take(np.arange(len(rows))[-KEEP:])
        self.labels = np.append(self.labels, label)[-KEEP:]

    def apply(self, features: FeatureRows, probabilities: np.ndarray) -> np.ndarray:
        """The model's probabilities (rows x classes) with the remembered classes blended in.

        A row whose most similar correction has similarity ``s >= SIMILAR`` becomes
        ``(1 - w) * p + w * onehot(corrected class)``, where ``w`` grows from
        :data:`FLOOR` at ``s = SIMILAR`` to 1 for the same mail: the corrected class wins
        with at least that probability (above a usual confidence threshold, so rules meant
        for unsure mails do not undo a user's correction), more the more alike the mails are.
        """
        if not len(self):
            return probabilities
        similarity = features.dot(self.rows)
        nearest = similarity.argmax(axis=1)
        best = similarity[np.arange(len(nearest)), nearest]
        blended = probabilities.copy()
        for i in np.flatnonzero(best >= SIMILAR):
            s = min(1.0, float(best[i]))  # float32 storage: a row may be a hair over 1
            weight = FLOOR + (1.0 - FLOOR) * (s - SIMILAR) / (1.0 - SIMILAR)
            blended[i] *= 1.0 - weight
            blended[i, self.labels[nearest[i]]] += weight
        return blended

    def arrays(self) -> dict[str, np.ndarray]:
        """The memory as plain arrays (for an ``.npz``); :meth:`from_arrays` reads them back."""
        return {
            "memory_data": self.rows.data.astype(np.float32),
            "memory_indices": self.rows.indices.astype(np.int32),
            "memory_indptr": self.rows.indptr.astype(np.int64),
            "memory_labels": self.labels,
        }

    @classmethod
    def from_arrays(cls, saved: dict[str, np.ndarray], features: int) -> CorrectionMemory:
        """The memory saved by :meth:`arrays` (an empty one when the arrays are absent)."""
        if "memory_labels" not in saved:
            return cls.empty(features)
        labels = saved["memory_labels"]
        rows = FeatureRows(
            saved["memory_data"].astype(np.float64),
            saved["memory_indices"].astype(np.int64),
            saved["memory_indptr"].astype(np.int64),
            features,
        )
        return cls(rows, labels)
