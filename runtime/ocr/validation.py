"""Checks a document before OCR work: size, type, page count, pixel limit, PDF encryption.

Every problem a sender could cause becomes :class:`runtime.errors.BadPayload` with a reason a
person can act on; nothing else escapes from here for a bad document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from runtime.ocr.documents import check_document
from runtime.ocr.images import ImagePages, SourcePage, align_pillow_bomb_limit
from runtime.ocr.pdf import PdfPages
from runtime.ocr.results import OcrLimits, OcrSettings


class OpenDocument(Protocol):
    """A document that passed the checks, with its pages to take one at a time."""

    page_count: int

    def pages(self) -> Iterator[SourcePage]:
        """Yield the pages in order; decoding errors still surface as BadPayload."""
        ...

    def close(self) -> None:
        """Release decoders."""
        ...


def open_document(
    data: bytes, limits: OcrLimits | None = None, settings: OcrSettings | None = None
) -> tuple[str, OpenDocument]:
    """Check a document and open it; return its media type and pages, or raise BadPayload."""
    limits = limits or OcrLimits()
    settings = settings or OcrSettings()
    media_type = check_document(data, limits)
    if media_type == "application/pdf":
        return media_type, PdfPages(data, limits, settings)
    align_pillow_bomb_limit(limits)
    return media_type, ImagePages(data, limits, media_type)


def validate_document(
    data: bytes, limits: OcrLimits | None = None, settings: OcrSettings | None = None
) -> str:
    """Check a document fully, decoding every page, and return its media type; no OCR runs."""
    media_type, document = open_document(data, limits, settings)
    try:
        for _page in document.pages():
            pass
    finally:
        document.close()
    return media_type
