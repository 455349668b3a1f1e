"""What an OCR run takes and gives: settings, limits, and the result per page and document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

MiB = 1024 * 1024


@dataclass(frozen=True)
class OcrLimits:
    """Bounds a document must stay within before any decoding work is done on it."""

    max_bytes: int = 20 * MiB
    max_pages: int = 50
    # Per page, after PDF rasterisation. A4 at 300 dpi is ~8.7 Mpx; 40 Mpx leaves room for
    # large scans while a 30000 x 30000 "bomb" (900 Mpx, ~900 MB as grayscale) is refused.
    max_pixels: int = 40_000_000


class OcrSettings(BaseModel):
    """How to OCR a document; part of the dedup key, so two settings give two results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lang: str = Field(
        "auto",
        pattern=r"^[A-Za-z_]{3,16}(\+[A-Za-z_]{3,16}){0,4}$",
        description="Tesseract languages ('deu', 'eng+fra'), or 'auto': read with 'eng', "
        "detect the page's language and re-read with '<lang>+eng' when it is another "
        "installed one.",
    )
    psm: int = Field(3, ge=3, le=13, description="Tesseract page segmentation mode, first try.")
    dpi: int = Field(200, ge=72, le=600, description="Resolution PDF pages are rasterised at.")
    confidence_threshold: float = Field(
        85.0, ge=0, le=100, description="Below this mean word confidence, try the fallbacks."
    )
    fallback: bool = Field(True, description="Whether to retry low-confidence pages.")
    deskew: bool = Field(True, description="Estimate and undo a small page rotation.")
    use_text_layer: bool = Field(True, description="Take a PDF page's text layer when it has one.")
    words: bool = Field(True, description="Include word boxes in the result.")

    def fingerprint(self) -> str:
        """Return a short stable hash of these settings (the second half of the dedup key)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class WordBox(BaseModel):
    """One recognised word (or, for RapidOCR, one text segment) and where it is on the page."""

    text: str
    confidence: float = Field(description="0..100")
    left: int
    top: int
    width: int
    height: int


class PageText(BaseModel):
    """The text of one page as the winning engine read it."""

    number: int = Field(description="1-based page number.")
    text: str
    confidence: float = Field(description="Mean word confidence, 0..100.")
    engine: str = Field(description="'tesseract', 'rapidocr' or 'pdf-text'.")
    variant: str = Field(description="Which preprocessing / setting produced this text.")
    width: int = 0
    height: int = 0
    rotation: int = Field(
        0, description="Degrees the page was turned clockwise before reading: 0/90/180/270."
    )
    language: str | None = Field(
        None, description="ISO 639-1 code of the page's language, None when unknown."
    )
    words: list[WordBox] = Field(default_factory=list)


class EngineAttempt(BaseModel):
    """One engine run on one page, kept or not."""

    page: int
    engine: str
    variant: str
    confidence: float | None = None
    seconds: float
    error: str | None = None


class OcrResult(BaseModel):
    """The OCR of a whole document."""

    document_id: str = Field(description="SHA-256 of the document's bytes.")
    media_type: str
    settings_hash: str
    pages: list[PageText]
    confidence: float = Field(description="Mean of the pages' confidences.")
    engine: str = Field(description="The engine that won every page, or 'mixed'.")
    engines_tried: list[str] = Field(description="Distinct engines run, in order.")
    attempts: list[EngineAttempt] = Field(default_factory=list)
    language: str | None = Field(
        None, description="The most common language of the pages (ISO 639-1), or None."
    )
    seconds: float = Field(description="Time the original OCR run took.")
    cached: bool = Field(False, description="True when this answer came from the dedup cache.")

    @property
    def text(self) -> str:
        """All pages' text, pages separated by a form feed."""
        return "\f".join(page.text for page in self.pages)
