"""When a PDF page's text layer can be trusted, and which wins when it is compared with OCR.

A page that is mostly a picture (a scan) may carry a text layer that does not say what the
picture shows: a small digital footer stamped on the scan, or a scanner's invisible OCR
layer that came out garbled. Such a layer is *doubted* and the page is OCR'd too:

- **implausible**: under :data:`MIN_PLAUSIBLE_SHARE` of its tokens look like words, numbers
  or codes (see :func:`plausibility`);
- **sparse**: its characters' boxes cover under :data:`MIN_INK_COVERED` of the page's inked
  rows (the page rendered small), so most of what is on the page is not in it.

The OCR read then wins unless the layer is plausible and comparable: at least
:data:`COMPARABLE_SHARE` as many letters and digits as OCR found (a layer's characters are
exact, OCR's are guesses).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

from runtime.ocr.preprocess import otsu_level
from runtime.ocr.results import PageText

# A page whose image objects cover at least this share of its area is treated as a scan.
MIN_IMAGE_COVERAGE = 0.5
# A text layer is plausible when at least this share of its tokens look like real tokens.
MIN_PLAUSIBLE_SHARE = 0.6
# A text layer is sparse when its boxes cover less than this share of the inked rows.
MIN_INK_COVERED = 0.6
# A plausible layer with this share of OCR's letters and digits is kept over the OCR read.
COMPARABLE_SHARE = 0.8

_EDGE_PUNCTUATION = "\"'“”‘’«»()[]{}<>.,;:!?*"
_SEPARATORS = frozenset("-–—:;,.·•|/*_=+")
_VOWELS = frozenset("aeiouy")
# 12 | 1.234,50 | 03/02/24 | No.17 | #5 | +44 | $12.50 | 10kg | 20% | 12,50€ (a letter prefix
# needs a separator: "n1:1" is not a number)
_NUMBERISH = re.compile(
    r"^(?:[^\W\d_]{1,5}[.#:°-]|[#№+\-$£€¥₹])?\d[\d.,/:'\-]*(?:[^\W\d_]{1,3}|[%€$£¥₹])?$"
)
# Upper-case codes with at least one digit: INV-2024/17, XA189323, A4
_CODE = re.compile(r"^(?=[A-Z]*\d)[A-Z0-9]+(?:[-/.][A-Z0-9]+)*$")
# Abbreviations with dots, their last dot stripped: B.V, S.L, z.B, e.g
_ABBREVIATION = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}$")
_CURRENCY = frozenset("€$£¥₹%&@#")
# Letters that are words on their own in the supported languages ("a", "à", "y", "e", "o").
_ONE_LETTER_WORDS = frozenset("aàeéèoóyiuxAÀEÉOÓYIU")


def _has_vowel(word: str) -> bool:
    bases = unicodedata.normalize("NFKD", word.lower())
    return any(ch in _VOWELS for ch in bases)


def _word_part(part: str) -> bool:
    if not part.isalpha():
        return False
    camel = len(part) >= 4 and part[0].isupper() and sum(map(str.isupper, part[1:])) == 1
    if not (part.islower() or part.isupper() or part.istitle() or camel):
        return False  # "tHe", "iNVoice": case flips are garbling; "GmbH", "McKay" are names
    return len(part) <= 4 or _has_vowel(part)


def token_kind(token: str) -> bool | None:
    """Tell whether a whitespace-separated token looks like something people write: a word
    (letters in a sane case, with a vowel when longer than 4, parts joined by ``-`` or an
    apostrophe; one letter only when it is a word such as "a" or "y"), a number, amount or
    date, or an upper-case code with a digit like ``INV-2024/17``.
    Return None for a token of separators only (``-``, ``|``, ``:``), which says nothing."""
    if all(ch in _SEPARATORS for ch in token):
        return None
    core = token.strip(_EDGE_PUNCTUATION)
    if not core:
        return False
    if len(core) == 1:
        return core.isdigit() or core in _ONE_LETTER_WORDS or core in _CURRENCY
    if _NUMBERISH.match(core) or _CODE.match(core) or _ABBREVIATION.match(core):
        return True
    parts = re.split(r"[-'’]", core)
    return all(part and _word_part(part) for part in parts)


def plausibility(text: str) -> float:
    """Return the share (0..1) of ``text``'s tokens that look written rather than garbled
    (see :func:`token_kind`); 0.0 for text with no tokens."""
    kinds = [kind for kind in map(token_kind, text.split()) if kind is not None]
    return sum(kinds) / len(kinds) if kinds else 0.0


def image_coverage(
    rects: Iterable[tuple[float, float, float, float]], size: tuple[float, float]
) -> float:
    """Return the share (0..1) of a page of ``size`` (width, height) covered by the union of
    ``rects`` (left, bottom, right, top, same units), measured on a 100 x 100 grid."""
    width, height = size
    if width <= 0 or height <= 0:
        return 0.0
    grid = np.zeros((100, 100), dtype=bool)
    for left, bottom, right, top in rects:
        x0, x1 = (int(np.clip(v / width * 100, 0, 100).round()) for v in (left, right))
        y0, y1 = (int(np.clip(v / height * 100, 0, 100).round()) for v in (bottom, top))
        grid[min(y0, y1) : max(y0, y1), min(x0, x1) : max(x0, x1)] = True
    return float(grid.mean())


def ink_covered(gray: Image.Image, spans: Sequence[tuple[float, float]]) -> float:
    """Return the share (0..1) of ``gray``'s inked rows that lie within one of ``spans``
    (top, bottom in ``gray``'s pixel rows): how much of what is on the page a text layer
    with those boxes holds. A row is inked when at least 1% of it (3 pixels or more) is
    darker than the Otsu level; 1.0 for a blank page."""
    pixels = np.asarray(gray.convert("L"))
    if pixels.size == 0:
        return 1.0
    dark = (pixels <= otsu_level(gray)).sum(axis=1)
    inked = dark >= max(3, 0.01 * pixels.shape[1])
    if not inked.any():
        return 1.0
    covered = np.zeros(pixels.shape[0], dtype=bool)
    for top, bottom in spans:
        covered[max(0, int(top) - 1) : max(0, int(np.ceil(bottom)) + 2)] = True
    return float((inked & covered).sum() / inked.sum())


def doubt(layer: PageText, covered: float | None) -> str | None:
    """Return why a scanned page's text layer is doubted (``"implausible 0.31"``,
    ``"sparse 0.12"``: the measure that failed), or None when it can be trusted.
    ``covered`` is :func:`ink_covered` of the page, None when the layer has no boxes."""
    plausible = plausibility(layer.text)
    if plausible < MIN_PLAUSIBLE_SHARE:
        return f"implausible {plausible:.2f}"
    if covered is None or covered < MIN_INK_COVERED:
        return f"sparse {0.0 if covered is None else covered:.2f}"
    return None


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def choose(layer: PageText, read: PageText | None, why: str) -> PageText:
    """Return the better of a doubted text layer and the OCR ``read`` of the same page
    (None when OCR failed), its ``variant`` saying which won and why."""
    if read is None:
        return layer.model_copy(update={"variant": f"text-layer; ocr failed; {why}"})
    plausible = not why.startswith("implausible")
    if plausible and _alnum(layer.text) >= COMPARABLE_SHARE * _alnum(read.text):
        return layer.model_copy(update={"variant": f"text-layer; holds what ocr read; {why}"})
    return read.model_copy(update={"variant": f"{read.variant}; over text layer {why}"})
