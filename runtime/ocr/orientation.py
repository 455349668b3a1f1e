"""Page orientation: when to ask Tesseract's OSD, what its answer means, and turning the page.

Tesseract's orientation and script detection (``--psm 0``, ``osd.traineddata``) costs about
as much as one read (0.3-0.5 s for an A4 page at 150 dpi), so upright pages must not pay for
it: it runs only when the first read is doubtful, that is its mean word confidence is under
:data:`SUSPECT_CONFIDENCE` (and the page's threshold), or most of its words are taller than
they are wide (Tesseract reads some sideways text confidently, but its lines and boxes then
run down the page). Measured on the generated invoice scans: upright pages, noisy ones
included, read at 60-95 mean word confidence; the same pages upside down or on their side
at 22-37.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from runtime.ocr.results import WordBox

# Tesseract's orientation confidence is an unbounded score, not a probability: an A4 page of
# text scores about 10-12 for the right answer, a page it cannot tell about 0-1.
MIN_ORIENTATION_CONFIDENCE = 2.0
# Under this first-read confidence (0..100) a page may be turned; above it, it is upright
# but perhaps poor, which the fallback chain deals with.
SUSPECT_CONFIDENCE = 50.0
# A word of this many characters or more is wider than tall when its line runs across.
_SIDEWAYS_MIN_CHARS = 3
_SIDEWAYS_SHARE = 0.5

_TURNS = {
    90: Image.Transpose.ROTATE_270,  # PIL turns counter-clockwise; 270 CCW is 90 clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Orientation:
    """Tesseract's OSD answer: ``rotate`` is the clockwise turn (0, 90, 180 or 270 degrees)
    that makes the page upright, ``confidence`` Tesseract's orientation score (>= 0,
    unbounded; see :data:`MIN_ORIENTATION_CONFIDENCE`), ``script`` e.g. ``"Latin"``."""

    rotate: int
    confidence: float
    script: str | None = None

    @property
    def trusted(self) -> bool:
        """Whether the answer is confident enough to turn the page by."""
        return self.rotate in _TURNS and self.confidence >= MIN_ORIENTATION_CONFIDENCE


def parse_osd(osd: Mapping[str, Any]) -> Orientation:
    """Build an :class:`Orientation` from pytesseract's ``image_to_osd`` dictionary
    (``rotate``, ``orientation_conf``, ``script``); raise ValueError on a malformed one."""
    try:
        rotate = int(osd["rotate"]) % 360
        confidence = float(osd["orientation_conf"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"unreadable OSD answer {dict(osd)!r}") from exc
    script = osd.get("script")
    return Orientation(rotate, round(confidence, 2), str(script) if script else None)


def looks_sideways(words: Sequence[WordBox]) -> bool:
    """Tell whether most words of :data:`_SIDEWAYS_MIN_CHARS` characters or more are taller
    than wide: a page read with its lines running down the page."""
    long_words = [word for word in words if len(word.text) >= _SIDEWAYS_MIN_CHARS]
    if not long_words:
        return False
    tall = sum(word.height > word.width for word in long_words)
    return tall / len(long_words) >= _SIDEWAYS_SHARE


def doubtful(confidence: float, words: Sequence[WordBox], threshold: float) -> bool:
    """Tell whether a first read warrants an orientation check: its mean word confidence
    (0..100) under both :data:`SUSPECT_CONFIDENCE` and ``threshold``, or read sideways."""
    return confidence < min(threshold, SUSPECT_CONFIDENCE) or looks_sideways(words)


def turn(image: Image.Image, clockwise: int) -> Image.Image:
    """Return ``image`` turned ``clockwise`` degrees (0, 90, 180 or 270; lossless);
    raise ValueError for any other angle."""
    if clockwise % 360 == 0:
        return image
    if clockwise % 360 not in _TURNS:
        raise ValueError(f"a page turns by a multiple of 90 degrees, not {clockwise}")
    return image.transpose(_TURNS[clockwise % 360])
