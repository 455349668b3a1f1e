"""The OCR pipeline: dedup, checks, pages read upright and in their language, stats.

A PDF page's trusted text layer is taken as it is; a doubted one (a scan's sparse or
garbled layer, see ``runtime.ocr.text_layer``) is compared with the page's OCR. Every page
image is read by :class:`~runtime.ocr.reading.PageReading`: Tesseract first, an orientation
check and a re-read in the page's language when called for, then the fallback chain
(binarised Tesseract, RapidOCR) while the read stays under the confidence threshold.
Results are cached by (document SHA-256, settings hash), so a document seen before costs
one hash and one dictionary lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from runtime.errors import BadPayload
from runtime.ocr.dedup import ResultCache, ResultKey
from runtime.ocr.documents import document_id
from runtime.ocr.engines import EngineFailed, PageReader, RapidOcrEngine, TesseractEngine
from runtime.ocr.images import SourcePage
from runtime.ocr.language import majority, warm
from runtime.ocr.reading import PageReading, finish_page
from runtime.ocr.results import (
    EngineAttempt,
    OcrLimits,
    OcrResult,
    OcrSettings,
    PageText,
)
from runtime.ocr.stats import OcrStats
from runtime.ocr.text_layer import choose
from runtime.ocr.validation import open_document

log = logging.getLogger(__name__)


def parse_settings(settings: OcrSettings | Mapping[str, Any] | None) -> OcrSettings:
    """Return settings as an :class:`OcrSettings`; raise BadPayload when they are not a JSON
    object (a list, a string, a number) or when the object is invalid."""
    if isinstance(settings, OcrSettings):
        return settings
    if settings is not None and not isinstance(settings, Mapping):
        raise BadPayload(
            f"invalid OCR settings: settings must be a JSON object, not {type(settings).__name__}"
        )
    try:
        return OcrSettings.model_validate(dict(settings or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise BadPayload(f"invalid OCR settings: {problems}") from None


class OcrEngine:
    """Turns document bytes into an :class:`OcrResult`; thread-safe, one per worker process."""

    def __init__(
        self,
        limits: OcrLimits | None = None,
        cache_size: int = 1024,
        tesseract: PageReader | None = None,
        rapidocr: PageReader | None = None,
        stats: OcrStats | None = None,
    ) -> None:
        self.limits = limits or OcrLimits()
        self.cache = ResultCache(cache_size)
        self.stats = stats or OcrStats()
        self.readers: dict[str, PageReader] = {
            "tesseract": tesseract or TesseractEngine(),
            "rapidocr": rapidocr or RapidOcrEngine(),
        }
        # The language model loads in the background while the worker waits for its first
        # document (a page that needs it first waits on the model's lock).
        threading.Thread(target=warm, name="ocr-language-model", daemon=True).start()

    def lookup(
        self, doc_id: str, settings: OcrSettings | Mapping[str, Any] | None = None
    ) -> OcrResult | None:
        """Return the cached result for a document id and settings, or None; runs no engine."""
        return self._cached((doc_id, parse_settings(settings).fingerprint()))

    def _cached(self, key: ResultKey) -> OcrResult | None:
        """The cached result under ``key`` marked cached, or None; counts the hit or miss."""
        found = self.cache.get(key)
        self.stats.dedup(found is not None)
        return None if found is None else found.model_copy(update={"cached": True})

    def adopt(self, result: OcrResult) -> OcrResult:
        """Cache a result another worker made (a shared dedup hit); return it marked cached."""
        self.cache.put((result.document_id, result.settings_hash), result)
        self.stats.shared_hit()
        return result.model_copy(update={"cached": True})

    def process(
        self,
        data: bytes,
        settings: OcrSettings | Mapping[str, Any] | None = None,
        looked_up: bool = False,
    ) -> OcrResult:
        """OCR a document (or return the cached result); raise BadPayload for a bad document.

        ``looked_up`` says the caller has just missed :meth:`lookup` for this document, so
        the cache is not asked (nor the miss counted) twice.
        """
        settings = parse_settings(settings)
        doc_id = document_id(data)
        key: ResultKey = (doc_id, settings.fingerprint())
        if not looked_up:
            cached = self._cached(key)
            if cached is not None:
                return cached
        self._check_language(settings.lang)
        started = time.perf_counter()
        pages: list[PageText] = []
        attempts: list[EngineAttempt] = []
        try:
            media_type, document = open_document(data, self.limits, settings)
            try:
                for source in document.pages():
                    pages.append(self._read_page(source, settings, attempts))
            finally:
                document.close()
        except BaseException:
            self.stats.document_done(len(pages), ok=False)
            raise
        self.stats.document_done(len(pages), ok=True)
        for page in pages:
            self.stats.engine_won(page.engine)
        winners = {page.engine for page in pages}
        result = OcrResult(
            document_id=doc_id,
            media_type=media_type,
            settings_hash=key[1],
            pages=pages,
            confidence=round(sum(p.confidence for p in pages) / len(pages), 2),
            engine=winners.pop() if len(winners) == 1 else "mixed",
            engines_tried=list(dict.fromkeys(a.engine for a in attempts))
            or list(dict.fromkeys(p.engine for p in pages)),
            attempts=attempts,
            language=majority(page.language for page in pages),
            seconds=round(time.perf_counter() - started, 4),
        )
        self.cache.put(key, result)
        return result

    def _check_language(self, lang: str) -> None:
        """Raise BadPayload when an explicit lang names data Tesseract lacks here or joins
        'auto' to other languages; 'auto' needs English and uses the other languages only
        where they are installed."""
        languages = getattr(self.readers["tesseract"], "languages", None)
        installed = languages() if languages is not None else frozenset()
        if lang != "auto" and "auto" in lang.split("+"):
            raise BadPayload(
                f"OCR language {lang!r}: 'auto' stands alone; send lang 'auto' or name the "
                "languages, e.g. 'deu+eng'"
            )
        wanted = ["eng"] if lang == "auto" else lang.split("+")
        missing = [part for part in wanted if installed and part not in installed]
        if missing:
            raise BadPayload(
                f"OCR language {'+'.join(missing)!r} is not installed here "
                f"(installed: {', '.join(sorted(installed))})"
            )

    def _read_page(
        self, source: SourcePage, settings: OcrSettings, attempts: list[EngineAttempt]
    ) -> PageText:
        layer = source.text
        if source.image is None:
            assert layer is not None
            return finish_page(layer, settings.words)
        reading = PageReading(
            source.number, source.image, settings, self.readers, self.stats, attempts
        )
        if layer is None:
            return reading.run()
        try:  # a doubted text layer: read the page and keep the better of the two
            read: PageText | None = reading.run()
        except EngineFailed:
            read = None
        return finish_page(choose(layer, read, source.doubt or "doubted"), settings.words)
