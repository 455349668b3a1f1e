"""Which language a page is written in, and the Tesseract data that reads it.

Detection uses py3langid (a maintained, dependency-light port of langid.py: a naive Bayes
model over byte n-grams, ~0.3 ms per page once loaded) restricted to the languages the
invoice vocabularies cover. Its probabilities are normalised over those seven, so a page
with too little text, or text that fits none of them well, is reported as unknown
(``None``) rather than guessed.

ISO 639-1 codes name languages in results (``PageText.language``); Tesseract's own
three-letter codes name its trained data (``deu``, ``fra``, ...).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# ISO 639-1 -> the Tesseract trained data for that language (Debian: tesseract-ocr-<code>).
TESSERACT_CODES: dict[str, str] = {
    "en": "eng",
    "de": "deu",
    "fr": "fra",
    "es": "spa",
    "nl": "nld",
    "it": "ita",
    "pt": "por",
}
ISO_CODES: dict[str, str] = {tess: iso for iso, tess in TESSERACT_CODES.items()}

# Fewer letters than this is too little text to tell languages apart (a total line, a date).
MIN_LETTERS = 20
# Below this normalised probability the page's language is reported as unknown.
MIN_CONFIDENCE = 0.6

_LOCK = threading.Lock()
_IDENTIFIER: Any = None


@dataclass(frozen=True)
class Detected:
    """A language guess: ``code`` is an ISO 639-1 code or None (unknown); ``confidence``
    is py3langid's probability among the supported languages, 0..1 (0.0 when unknown
    for lack of text)."""

    code: str | None
    confidence: float


def _identifier() -> Any:
    """Load py3langid's model once per process (~0.5 s), limited to our languages."""
    global _IDENTIFIER
    with _LOCK:
        if _IDENTIFIER is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(TESSERACT_CODES))
            _IDENTIFIER = identifier
        return _IDENTIFIER


def warm() -> None:
    """Load the model now (about 0.5 s, once per process) rather than on the first page."""
    _identifier()


def detect(text: str) -> Detected:
    """Return the language of ``text`` among English, German, French, Spanish, Dutch,
    Italian and Portuguese, or ``Detected(None, p)`` when the text is too short (under
    :data:`MIN_LETTERS` letters) or the best guess is under :data:`MIN_CONFIDENCE`.

    Thread-safe: classification only reads the loaded model.
    """
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return Detected(None, 0.0)
    code, probability = _identifier().classify(text)
    confidence = round(float(probability), 3)
    if confidence < MIN_CONFIDENCE:
        return Detected(None, confidence)
    return Detected(str(code), confidence)


def tesseract_code(code: str) -> str | None:
    """Return Tesseract's trained-data name for an ISO 639-1 code (``"de"`` -> ``"deu"``),
    or None for a language outside the supported set."""
    return TESSERACT_CODES.get(code)


def reading_lang(code: str | None, installed: frozenset[str]) -> str | None:
    """Return the Tesseract ``lang`` to re-read a page in language ``code`` with, as
    ``"<lang>+eng"`` (English kept for the codes, amounts and names every invoice has), or
    None when the language is English, unknown, or its data is not in ``installed``."""
    tess = tesseract_code(code) if code else None
    if tess is None or tess == "eng" or tess not in installed:
        return None
    return f"{tess}+eng" if "eng" in installed else tess


def majority(codes: Iterable[str | None]) -> str | None:
    """Return the most common known language of a document's pages (the first page's on a
    tie), or None when no page's language is known."""
    counts = Counter(code for code in codes if code)
    return counts.most_common(1)[0][0] if counts else None
