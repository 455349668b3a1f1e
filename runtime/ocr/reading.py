"""Reading one page image: the engine chain, an orientation check and a re-read in the page's
language.

For a page with no trusted text layer::

    1. Tesseract, grayscale + deskew, --psm <settings.psm>, lang 'eng' (or settings.lang)
       - doubtful (confidence under 50, or read sideways)? ask Tesseract's OSD; when it is
         sure the page is turned, turn it, read again and keep the better read
       - settings.lang 'auto' and the text is in another installed language? read again
         with '<lang>+eng' and keep that read unless it is clearly less confident
    2. Tesseract, denoised + binarised + upscaled, another --psm
    3. RapidOCR, grayscale + deskew

The chain stops at the first read whose mean word confidence reaches the threshold and
otherwise keeps the most confident read. Upright English pages read confidently cost one
Tesseract call and a language guess (~0.3 ms).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image

from runtime.ocr.engines import EngineFailed, PageReader
from runtime.ocr.language import detect, reading_lang
from runtime.ocr.orientation import doubtful, looks_sideways, turn
from runtime.ocr.preprocess import clean_for_ocr, deskew, to_grayscale
from runtime.ocr.results import EngineAttempt, OcrSettings, PageText, WordBox
from runtime.ocr.stats import OcrStats

# A read in the page's own language is kept unless it is this many points (of 0..100 mean
# word confidence) less confident than the English read: English data scores its own
# misspellings of accented words about as high as the right data scores the right words.
LANGUAGE_MARGIN = 2.0
# A read of the page turned as OSD said is kept unless it is this many points less confident
# than the read as stored; always when the read as stored ran down the page and the turned
# one runs across (a sideways page can be read confidently, its boxes standing on end).
ORIENTATION_MARGIN = 5.0


@dataclass(frozen=True)
class Step:
    """One read of the chain: which engine, on which preprocessing variant, with which psm."""

    engine: str
    variant: str  # "gray" or "binarized"
    psm: int | None = None


def fallback_psm(psm: int) -> int:
    """Return the psm of the second Tesseract try: 6 reads the page as one block, a
    different cut of the same page than automatic layout (4 when the first try was 6)."""
    return 6 if psm != 6 else 4


def plan(settings: OcrSettings) -> list[Step]:
    """Return the chain of reads for a page under ``settings`` (one step without fallback)."""
    steps = [Step("tesseract", "gray", settings.psm)]
    if settings.fallback:
        steps.append(Step("tesseract", "binarized", fallback_psm(settings.psm)))
        steps.append(Step("rapidocr", "gray"))
    return steps


@dataclass
class _View:
    """The page as it is being read: turned ``rotation`` degrees clockwise, deskewed, and the
    preprocessing variants made of it so far (image and its scale to the page)."""

    rotation: int
    gray: Image.Image
    variants: dict[str, tuple[Image.Image, float]] = field(default_factory=dict)


class PageReading:
    """One page image through the chain; :meth:`run` returns the kept read.

    Attempts (reads and OSD checks) are appended to ``attempts``; engine calls are counted
    in ``stats``. One instance per page; the readers it calls are thread-safe.
    """

    def __init__(
        self,
        number: int,
        image: Image.Image,
        settings: OcrSettings,
        readers: Mapping[str, PageReader],
        stats: OcrStats,
        attempts: list[EngineAttempt],
    ) -> None:
        self.number = number
        self.settings = settings
        self.readers = readers
        self.stats = stats
        self.attempts = attempts
        self.errors: list[str] = []
        self.best: PageText | None = None
        self._base = to_grayscale(image)
        self.view = self._turned(0)

    def _turned(self, rotation: int) -> _View:
        gray = turn(self._base, rotation)
        if self.settings.deskew:
            gray, _angle = deskew(gray)
        return _View(rotation, gray, {"gray": (gray, 1.0)})

    def run(self) -> PageText:
        """Read the page; raise EngineFailed when no engine could read it at all."""
        threshold = self.settings.confidence_threshold
        auto = self.settings.lang == "auto"
        lang = "eng" if auto else self.settings.lang
        first, *rest = plan(self.settings)
        self._keep(self._try(first, lang))
        if self.best is not None and doubtful(self.best.confidence, self.best.words, threshold):
            self._orient(first, lang)
        if auto and self.best is not None:
            lang = self._in_language(first, lang)
        for step in rest:
            if self.best is not None and self.best.confidence >= threshold:
                break
            self._keep(self._try(step, lang))
        if self.best is None:
            reasons = "; ".join(self.errors)
            raise EngineFailed(f"no OCR engine could read page {self.number}: {reasons}")
        return finish_page(self.best, self.settings.words)

    def _keep(self, read: PageText | None, margin: float | None = None) -> bool:
        """Make ``read`` the best when it is more confident, or (with ``margin``) at most
        ``margin`` points less confident; return whether it was kept."""
        if read is None:
            return False
        if self.best is None:
            self.best = read
            return True
        floor = self.best.confidence - margin if margin is not None else None
        if (floor is None and read.confidence > self.best.confidence) or (
            floor is not None and read.confidence >= floor
        ):
            self.best = read
            return True
        return False

    def _orient(self, step: Step, lang: str) -> None:
        """Ask OSD which way up the page is; read it turned when OSD is sure it is not
        upright, and keep the turned page if that read is comparable or better."""
        ask = getattr(self.readers["tesseract"], "orientation", None)
        if ask is None:
            return
        began = time.perf_counter()
        try:
            found = ask(self.view.gray)
        except EngineFailed as exc:
            self._record("tesseract", "osd", began, error=str(exc))
            return
        self._record("tesseract", f"osd/rotate{found.rotate}/conf{found.confidence:g}", began, None)
        if not found.trusted or found.rotate == 0:
            return
        previous = self.view
        self.view = self._turned((previous.rotation + found.rotate) % 360)
        turned = self._try(step, lang)
        margin = ORIENTATION_MARGIN
        if (
            turned is not None
            and self.best is not None
            and looks_sideways(self.best.words)
            and not looks_sideways(turned.words)
        ):
            # Lines across the page at last: confidences of a sideways read do not compare,
            # and the rest of the chain reads the turned page.
            margin = math.inf
        if not self._keep(turned, margin=margin):
            self.view = previous

    def _in_language(self, step: Step, lang: str) -> str:
        """Re-read in the language the first read's text is in, when that is not English
        and its data is installed; return the lang the rest of the chain uses."""
        assert self.best is not None
        installed = getattr(self.readers["tesseract"], "languages", None)
        other = reading_lang(
            detect(self.best.text).code, installed() if installed is not None else frozenset()
        )
        if other is None or other == lang:
            return lang
        if self._keep(self._try(step, other, tag=other), margin=LANGUAGE_MARGIN):
            return other
        return lang

    def _record(
        self,
        engine: str,
        variant: str,
        began: float,
        confidence: float | None = None,
        error: str | None = None,
    ) -> float:
        seconds = time.perf_counter() - began
        self.attempts.append(
            EngineAttempt(
                page=self.number,
                engine=engine,
                variant=variant,
                confidence=confidence,
                seconds=round(seconds, 4),
                error=error,
            )
        )
        return seconds

    def _try(self, step: Step, lang: str, tag: str | None = None) -> PageText | None:
        """Run one step on the current view; return its read, or None when the engine is
        missing or failed (recorded in ``errors``)."""
        reader = self.readers[step.engine]
        if step.engine != "tesseract" and not reader.available():
            self.errors.append(f"{step.engine}: not installed")
            return None
        if step.variant not in self.view.variants:
            self.view.variants[step.variant] = clean_for_ocr(self.view.gray)
        image, scale = self.view.variants[step.variant]
        variant = step.variant if step.psm is None else f"{step.variant}/psm{step.psm}"
        if self.view.rotation:
            variant += f"/rot{self.view.rotation}"
        if tag:
            variant += f"/{tag}"
        began = time.perf_counter()
        try:
            read = reader.read(image, psm=step.psm, lang=lang)
        except EngineFailed as exc:
            seconds = self._record(step.engine, step.variant, began, error=str(exc))
            self.stats.engine_call(step.engine, seconds, ok=False)
            self.errors.append(str(exc))
            return None
        seconds = self._record(step.engine, variant, began, confidence=read.confidence)
        self.stats.engine_call(step.engine, seconds, ok=True)
        words = read.words if scale == 1.0 else [_unscale(word, scale) for word in read.words]
        return PageText(
            number=self.number,
            text=read.text,
            confidence=read.confidence,
            engine=step.engine,
            variant=variant,
            width=self.view.gray.width,
            height=self.view.gray.height,
            rotation=self.view.rotation,
            words=words,
        )


def finish_page(page: PageText, words: bool) -> PageText:
    """Return a copy of the page read as kept: ``language`` set to the ISO 639-1 code its
    text is detected in (None when unknown), and its word boxes dropped unless ``words``."""
    update: dict[str, object] = {"language": detect(page.text).code}
    if not words:
        update["words"] = []
    return page.model_copy(update=update)


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
