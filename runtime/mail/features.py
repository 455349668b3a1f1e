"""Hashed features of mail text with numpy alone, equal to scikit-learn's ``HashingVectorizer``.

The classifier reads a mail as two hashed bags side by side: words and word pairs, then
character 3-5 grams inside word boundaries (``analyzer="char_wb"``), each ``2**16`` wide, the
words counted double, the row scaled to unit length. scikit-learn computes exactly this, but
importing it costs a monitor about 93 MB of memory; inference needs only the hashing, which
``mmh3`` (MurmurHash3 x86 32-bit, the hash scikit-learn's ``FeatureHasher`` uses) provides.
The steps follow scikit-learn 1.x (``feature_extraction/text.py``: ``_word_ngrams``,
``_char_wb_ngrams``; ``_hashing_fast.pyx``), and ``tests/unit/test_mail_features.py`` checks
the rows are equal to scikit-learn's, bit for bit::

    rows = vectorise(["Factura F-2024-118\\nAdjuntamos la factura ..."], preprocess)
    rows.dot(rows)                                     # cosine similarities (unit rows)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mmh3
import numpy as np

__all__ = ["HALF", "FeatureRows", "bucket_of", "char_wb_grams", "vectorise", "word_grams"]

HALF = 2**16  # hashed features per bag; the words' bag, then the characters' bag
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's run-of-blanks rule for char n-grams
_WORD_WEIGHT = 2.0  # a whole word is stronger evidence than one of its character n-grams


@dataclass
class FeatureRows:
    """Sparse rows of features, laid out like a CSR matrix (no scipy needed).

    Row ``i`` holds ``data[indptr[i]:indptr[i + 1]]`` at the columns
    ``indices[indptr[i]:indptr[i + 1]]`` (ascending, no repeats) of ``width`` columns;
    ``data`` is float64, ``indices`` and ``indptr`` int64.
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    width: int

    @classmethod
    def empty(cls, width: int) -> FeatureRows:
        """No row, ``width`` columns."""
        return cls(np.zeros(0), np.zeros(0, np.int64), np.zeros(1, np.int64), width)

    @classmethod
    def stack(cls, parts: Sequence[FeatureRows], width: int) -> FeatureRows:
        """The rows of ``parts`` one after another (each ``width`` columns wide)."""
        if not parts:
            return cls.empty(width)
        starts = np.cumsum([0] + [len(p.data) for p in parts[:-1]])
        indptr = [np.zeros(1, np.int64)] + [
            p.indptr[1:] + start for p, start in zip(parts, starts, strict=True)
        ]
        return cls(
            np.concatenate([p.data for p in parts]).astype(np.float64, copy=False),
            np.concatenate([p.indices for p in parts]).astype(np.int64, copy=False),
            np.concatenate(indptr).astype(np.int64, copy=False),
            width,
        )

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ``i`` as ``(indices, data)``."""
        start, end = self.indptr[i], self.indptr[i + 1]
        return self.indices[start:end], self.data[start:end]

    def take(self, rows: np.ndarray) -> FeatureRows:
        """The rows at the positions ``rows`` (int array, or a boolean mask), in that order."""
        positions = np.arange(len(self))[rows]
        starts = self.indptr[positions]
        counts = self.indptr[positions + 1] - starts
        gather = _ranges(starts, counts)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return FeatureRows(self.data[gather], self.indices[gather], indptr, self.width)

    def dot(self, other: FeatureRows) -> np.ndarray:
        """``self @ other.T`` as a dense ``len(self) x len(other)`` float64 array.

        Column by column: each of this row's columns meets the rows of ``other`` that have
        it, so the work is what the two rows share, as for scipy's sparse product.
        """
        out = np.zeros((len(self), len(other)))
        if not len(self) or not len(other) or not len(other.data):
            return out
        other_rows = np.repeat(np.arange(len(other)), np.diff(other.indptr))
        order = np.argsort(other.indices, kind="stable")
        by_column_rows = other_rows[order]
        by_column_data = other.data[order]
        column_start = np.searchsorted(other.indices[order], np.arange(self.width + 1))
        for i in range(len(self)):
            columns, values = self.row(i)
            starts = column_start[columns]
            counts = column_start[columns + 1] - starts
            if not counts.any():
                continue
            gather = _ranges(starts, counts)
            weights = np.repeat(values, counts) * by_column_data[gather]
            out[i] = np.bincount(by_column_rows[gather], weights=weights, minlength=len(other))
        return out


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``starts[k] .. starts[k] + counts[k] - 1`` for every ``k``, in order."""
    total = int(counts.sum())
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)


def word_grams(text: str) -> list[str]:
    """Words of two or more word characters, then each pair of neighbours joined by a space."""
    tokens: list[str] = _TOKEN.findall(text)
    return tokens + [" ".join(tokens[i : i + 2]) for i in range(len(tokens) - 1)]


def char_wb_grams(text: str, low: int = 3, high: int = 5) -> list[str]:
    """Character ``low..high`` grams of each blank-separated word padded with a space.

    A word shorter than a gram size gives itself (padded) once, as scikit-learn does.
    """
    grams: list[str] = []
    append = grams.append
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            offset = 0
            append(padded[:n])
            while offset + n < length:
                offset += 1
                append(padded[offset : offset + n])
            if offset == 0:
                break
    return grams


def bucket_of(grams: Sequence[str], width: int = HALF) -> np.ndarray:
    """Each gram's column: ``abs(murmurhash3_32(utf8, seed=0)) % width`` (int64).

    ``abs`` of ``-2**31`` is taken as ``2**31`` (what scikit-learn's special case amounts
    to). Raises ``UnicodeEncodeError`` for a gram holding a lone surrogate, as scikit-learn
    does (the text is encoded here: mmh3 itself crashes on such a ``str``).
    """
    hash32 = mmh3.hash
    hashes = np.fromiter((hash32(g.encode("utf-8")) for g in grams), np.int64, len(grams))
    return np.abs(hashes) % width


def _counted(grams: Sequence[str], weight: float, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct columns (``+ shift``) of ``grams`` and ``weight`` times their counts."""
    columns, counts = np.unique(bucket_of(grams), return_counts=True)
    return columns + shift, weight * counts.astype(np.float64)


def _row(text: str) -> tuple[np.ndarray, np.ndarray]:
    """One preprocessed text's unit-length row as ``(indices, data)``."""
    words, word_data = _counted(word_grams(text), _WORD_WEIGHT, 0)
    chars, char_data = _counted(char_wb_grams(text), 1.0, HALF)
    indices = np.concatenate([words, chars])
    data = np.concatenate([word_data, char_data])
    # counts are whole numbers: the sum of squares is exact in any order, as in scikit-learn
    norm = np.sqrt(np.sum(data * data))
    if norm != 0.0:
        data = data / norm
    return indices, data


def vectorise(texts: Sequence[str], preprocess: Callable[[str], str]) -> FeatureRows:
    """Rows of hashed features (``len(texts)`` x ``2 * HALF``), each of unit length.

    ``preprocess`` runs on each text first (the classifier's lower-casing and accent
    stripping). A text with no feature gives an all-zero row.
    """
    rows = [_row(preprocess(text)) for text in texts]
    lengths = [len(indices) for indices, _ in rows]
    return FeatureRows(
        np.concatenate([d for _, d in rows]) if rows else np.zeros(0),
        np.concatenate([i for i, _ in rows]).astype(np.int64) if rows else np.zeros(0, np.int64),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        2 * HALF,
    )
