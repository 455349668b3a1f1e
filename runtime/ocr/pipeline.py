"""The OCR pipeline: dedup, checks, preprocessing, engines with a fallback chain, stats.

For each page that has no PDF text layer, the chain is::

    1. Tesseract, grayscale + deskew, --psm <settings.psm>
    2. Tesseract, denoised + binarised + upscaled, another --psm
    3. RapidOCR, grayscale + deskew

It stops at the first read whose mean word confidence reaches the threshold and otherwise
keeps the most confident read. Results are cached by (document SHA-256, settings hash), so a
document seen before costs one hash and one dictionary lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydantic import ValidationError

from runtime.errors import BadPayload
from runtime.ocr.dedup import ResultCache, ResultKey
from runtime.ocr.documents import document_id
from runtime.ocr.engines import EngineFailed, PageReader, RapidOcrEngine, TesseractEngine
from runtime.ocr.images import SourcePage
from runtime.ocr.preprocess import clean_for_ocr, deskew, to_grayscale
from runtime.ocr.results import (
    EngineAttempt,
    OcrLimits,
    OcrResult,
    OcrSettings,
    PageText,
    WordBox,
)
from runtime.ocr.stats import OcrStats
from runtime.ocr.validation import open_document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Step:
    engine: str
    variant: str  # "gray" or "binarized"
    psm: int | None = None


def _fallback_psm(psm: int) -> int:
    # 6 reads the page as one block: a different cut of the same page than automatic layout.
    return 6 if psm != 6 else 4


def parse_settings(settings: OcrSettings | Mapping[str, Any] | None) -> OcrSettings:
    """Return settings as an :class:`OcrSettings`; raise BadPayload when a dict is invalid."""
    if isinstance(settings, OcrSettings):
        return settings
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

    def lookup(
        self, doc_id: str, settings: OcrSettings | Mapping[str, Any] | None = None
    ) -> OcrResult | None:
        """Return the cached result for a document id and settings, or None; runs no engine."""
        key: ResultKey = (doc_id, parse_settings(settings).fingerprint())
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
            cached = self.cache.get(key)
            self.stats.dedup(cached is not None)
            if cached is not None:
                return cached.model_copy(update={"cached": True})
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
            seconds=round(time.perf_counter() - started, 4),
        )
        self.cache.put(key, result)
        return result

    def _check_language(self, lang: str) -> None:
        languages = getattr(self.readers["tesseract"], "languages", None)
        installed = languages() if languages is not None else frozenset()
        missing = [part for part in lang.split("+") if installed and part not in installed]
        if missing:
            raise BadPayload(
                f"OCR language {'+'.join(missing)!r} is not installed here "
                f"(installed: {', '.join(sorted(installed))})"
            )

    def _plan(self, settings: OcrSettings) -> list[_Step]:
        plan = [_Step("tesseract", "gray", settings.psm)]
        if settings.fallback:
            plan.append(_Step("tesseract", "binarized", _fallback_psm(settings.psm)))
            plan.append(_Step("rapidocr", "gray"))
        return plan

    def _read_page(
        self, source: SourcePage, settings: OcrSettings, attempts: list[EngineAttempt]
    ) -> PageText:
        if source.text is not None:
            page = source.text
            return page if settings.words else page.model_copy(update={"words": []})
        assert source.image is not None
        gray = to_grayscale(source.image)
        if settings.deskew:
            gray, _angle = deskew(gray)
        variants: dict[str, tuple[Image.Image, float]] = {"gray": (gray, 1.0)}
        best: PageText | None = None
        errors: list[str] = []
        for step in self._plan(settings):
            if best is not None and best.confidence >= settings.confidence_threshold:
                break
            reader = self.readers[step.engine]
            if step.engine != "tesseract" and not reader.available():
                errors.append(f"{step.engine}: not installed")
                continue
            if step.variant not in variants:
                variants[step.variant] = clean_for_ocr(gray)
            image, scale = variants[step.variant]
            began = time.perf_counter()
            try:
                read = reader.read(image, psm=step.psm, lang=settings.lang)
            except EngineFailed as exc:
                seconds = time.perf_counter() - began
                self.stats.engine_call(step.engine, seconds, ok=False)
                attempts.append(
                    EngineAttempt(
                        page=source.number,
                        engine=step.engine,
                        variant=step.variant,
                        seconds=round(seconds, 4),
                        error=str(exc),
                    )
                )
                errors.append(str(exc))
                continue
            seconds = time.perf_counter() - began
            self.stats.engine_call(step.engine, seconds, ok=True)
            variant = step.variant if step.psm is None else f"{step.variant}/psm{step.psm}"
            attempts.append(
                EngineAttempt(
                    page=source.number,
                    engine=step.engine,
                    variant=variant,
                    confidence=read.confidence,
                    seconds=round(seconds, 4),
                )
            )
            if best is None or read.confidence > best.confidence:
                words = read.words if settings.words else []
                if scale != 1.0:
                    words = [_unscale(word, scale) for word in words]
                best = PageText(
                    number=source.number,
                    text=read.text,
                    confidence=read.confidence,
                    engine=step.engine,
                    variant=variant,
                    width=gray.width,
                    height=gray.height,
                    words=words,
                )
        if best is None:
            reasons = "; ".join(errors)
            raise EngineFailed(f"no OCR engine could read page {source.number}: {reasons}")
        return best


def _unscale(word: WordBox, scale: float) -> WordBox:
    """Map a word box from an upscaled variant back to the page's coordinates."""
    return word.model_copy(
        update={
            "left": round(word.left / scale),
            "top": round(word.top / scale),
            "width": max(1, round(word.width / scale)),
            "height": max(1, round(word.height / scale)),
        }
    )
