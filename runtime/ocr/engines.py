"""The OCR engines: Tesseract through pytesseract, and RapidOCR (ONNX models shipped in its wheel).

Each engine reads one grayscale page and returns a :class:`Recognition`: text, mean word
confidence on a 0..100 scale, and word boxes. Engine failures are raised as
:class:`EngineFailed` so the fallback chain can try the next engine.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from runtime.errors import RetryableError
from runtime.ocr.layout import lines_text
from runtime.ocr.orientation import Orientation, parse_osd
from runtime.ocr.results import WordBox


class EngineFailed(RetryableError):
    """Raised when an OCR engine cannot read a page (missing binary, crash, timeout)."""

    code = "ocr_engine_failed"


@dataclass
class Recognition:
    """What one engine read on one page."""

    text: str
    confidence: float
    words: list[WordBox] = field(default_factory=list)


class PageReader(Protocol):
    """An OCR engine: a name, whether it can run here, and a way to read one page."""

    name: str

    def available(self) -> bool:
        """Tell whether the engine can run on this machine."""
        ...

    def read(
        self, image: Image.Image, psm: int | None = None, lang: str | None = None
    ) -> Recognition:
        """Read one page; raise EngineFailed when the engine itself fails."""
        ...


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


class TesseractEngine:
    """Tesseract via pytesseract's ``image_to_data``: words, boxes and confidences."""

    name = "tesseract"

    def __init__(self, lang: str = "eng", timeout_s: float = 120.0) -> None:
        self.lang = lang
        self.timeout_s = timeout_s
        self._version: str | None = None
        self._languages: frozenset[str] | None = None
        # Tesseract's OpenMP threads fight each other (and our other workers) on a small
        # machine: one thread per process reads a page about twice as fast here. pytesseract
        # passes os.environ to the subprocess, so this is the only place it can be set;
        # an operator's own setting wins.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def available(self) -> bool:
        """Tell whether the ``tesseract`` binary can be found and run."""
        return self.version() is not None

    def version(self) -> str | None:
        """Return Tesseract's version, or None when it is not installed."""
        if self._version is None:
            import pytesseract

            try:
                self._version = str(pytesseract.get_tesseract_version())
            except (pytesseract.TesseractNotFoundError, OSError):
                return None
        return self._version

    def languages(self) -> frozenset[str]:
        """Return the language packs Tesseract has installed (empty when it is missing)."""
        if self._languages is None:
            import pytesseract

            try:
                self._languages = frozenset(pytesseract.get_languages(config=""))
            except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError):
                return frozenset()
        return self._languages

    def read(
        self, image: Image.Image, psm: int | None = None, lang: str | None = None
    ) -> Recognition:
        """Read one page with ``--psm psm`` (default 3, fully automatic segmentation)."""
        import pytesseract

        config = f"--psm {psm or 3}"
        try:
            data: dict[str, list[Any]] = pytesseract.image_to_data(
                image,
                lang=lang or self.lang,
                config=config,
                output_type=pytesseract.Output.DICT,
                timeout=self.timeout_s,
            )
        except pytesseract.TesseractNotFoundError:
            raise EngineFailed("tesseract is not installed") from None
        except pytesseract.TesseractError as exc:
            raise EngineFailed(f"tesseract failed: {exc.message or exc.status}") from None
        except RuntimeError as exc:  # pytesseract's timeout
            raise EngineFailed(f"tesseract: {exc}") from None
        return self._recognition(data)

    def orientation(self, image: Image.Image) -> Orientation:
        """Ask Tesseract's OSD (``--psm 0``) which way up the page is; raise EngineFailed
        when it cannot tell (too little text, no ``osd`` data) or fails."""
        import pytesseract

        try:
            osd: dict[str, Any] = pytesseract.image_to_osd(
                image,
                config="--psm 0",
                output_type=pytesseract.Output.DICT,
                timeout=self.timeout_s,
            )
            return parse_osd(osd)
        except pytesseract.TesseractNotFoundError:
            raise EngineFailed("tesseract is not installed") from None
        except pytesseract.TesseractError as exc:
            message = str(exc.message or exc.status).strip().splitlines()
            raise EngineFailed(f"tesseract osd failed: {message[-1] if message else exc}") from None
        except (RuntimeError, ValueError) as exc:  # pytesseract's timeout; a malformed answer
            raise EngineFailed(f"tesseract osd: {exc}") from None

    @staticmethod
    def _recognition(data: dict[str, list[Any]]) -> Recognition:
        words: list[WordBox] = []
        lines: dict[tuple[int, int, int], list[str]] = {}
        for index, raw in enumerate(data["text"]):
            text = str(raw).strip()
            confidence = float(data["conf"][index])
            if not text or confidence < 0:
                continue
            words.append(
                WordBox(
                    text=text,
                    confidence=round(confidence, 2),
                    left=int(data["left"][index]),
                    top=int(data["top"][index]),
                    width=int(data["width"][index]),
                    height=int(data["height"][index]),
                )
            )
            key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
            lines.setdefault(key, []).append(text)
        text = "\n".join(" ".join(line) for line in lines.values())
        return Recognition(text=text, confidence=_mean([w.confidence for w in words]), words=words)


class RapidOcrEngine:
    """RapidOCR (PaddleOCR models on ONNX Runtime); models load once, on first use."""

    name = "rapidocr"

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Tell whether ``rapidocr_onnxruntime`` is installed."""
        return importlib.util.find_spec("rapidocr_onnxruntime") is not None

    def _load(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise EngineFailed("rapidocr-onnxruntime is not installed") from None
            self._engine = RapidOCR()
        return self._engine

    def read(
        self, image: Image.Image, psm: int | None = None, lang: str | None = None
    ) -> Recognition:
        """Read one page; ``psm`` and ``lang`` are ignored (its models are Chinese + English)."""
        pixels = np.asarray(image.convert("RGB"))
        with self._lock:  # one inference at a time per process; the models hold buffers
            engine = self._load()
            try:
                found, _elapsed = engine(pixels)
            except Exception as exc:  # onnxruntime and OpenCV raise their own types
                raise EngineFailed(f"rapidocr failed: {exc}") from None
        words: list[WordBox] = []
        for box, text, score in found or []:
            xs = [point[0] for point in box]
            ys = [point[1] for point in box]
            left, top = int(min(xs)), int(min(ys))
            words.append(
                WordBox(
                    text=str(text).strip(),
                    confidence=round(float(score) * 100, 2),
                    left=left,
                    top=top,
                    width=max(1, int(max(xs)) - left),
                    height=max(1, int(max(ys)) - top),
                )
            )
        words = [word for word in words if word.text]
        return Recognition(
            text="\n".join(lines_text(words)),
            confidence=_mean([w.confidence for w in words]),
            words=words,
        )
