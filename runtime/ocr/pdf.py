"""PDF pages through PDFium: checks before work, text layers, and rasterising.

PDFium is not thread-safe, and OCR robots run in threads, so every PDFium call in the
process goes through one lock. Rendering a page is the only slow call and takes tens of
milliseconds; OCR itself runs outside the lock.

A page's text layer is taken without OCR unless the page is mostly image (a scan: image
objects over at least half of it) and the layer is implausible or sparse against what the
page shows (``runtime.ocr.text_layer``); then the page is rasterised too, and the pipeline
reads it and keeps the better of the two. Digital PDFs (no full-page image) stay on the
text-layer path and are never rendered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image

from runtime.errors import BadPayload
from runtime.ocr.images import SourcePage
from runtime.ocr.results import OcrLimits, OcrSettings, PageText, WordBox
from runtime.ocr.text_layer import MIN_IMAGE_COVERAGE, doubt, image_coverage, ink_covered

_PDFIUM_LOCK = threading.Lock()
# A page whose text layer has fewer letters and digits than this is treated as a scan.
MIN_TEXT_LAYER_CHARS = 10
_FPDF_ERR_PASSWORD = 4
_FPDF_PAGEOBJ_IMAGE = 3
# The resolution a scanned page is rendered at to see which of its rows carry ink (cheap:
# an A4 page is 298 x 421 pixels; 10 pt text is still 5 rows tall).
_INK_PROBE_DPI = 36


def _image_coverage(page: Any, size: tuple[float, float]) -> float:
    """Share (0..1) of the page covered by its image objects (Form XObjects included)."""
    rects = []
    for obj in page.get_objects(filter=(_FPDF_PAGEOBJ_IMAGE,)):
        bounds = getattr(obj, "get_bounds", None) or obj.get_pos  # pypdfium2 5 renamed it
        rects.append(tuple(bounds()))
    return image_coverage(rects, size)


def _layer_ink_covered(page: Any, layer: PageText, scale: float) -> float | None:
    """Share of the page's inked rows (rendered at :data:`_INK_PROBE_DPI`) that the text
    layer's word boxes (at ``scale`` pixels per point) lie on; None when it has no boxes."""
    if not layer.words:
        return None
    probe = _INK_PROBE_DPI / 72.0
    bitmap = page.render(scale=probe, grayscale=True)
    try:
        small = bitmap.to_pil().convert("L")
    finally:
        bitmap.close()
    ratio = probe / scale
    spans = [(w.top * ratio, (w.top + w.height) * ratio) for w in layer.words]
    return ink_covered(small, spans)


def _pdfium() -> Any:
    import pypdfium2

    return pypdfium2


def _text_layer(textpage: Any, number: int, scale: float, page_height: float) -> PageText | None:
    """Read a page's text layer with word boxes, or None when it has (almost) no text."""
    raw = textpage.get_text_range()
    if sum(ch.isalnum() for ch in raw) < MIN_TEXT_LAYER_CHARS:
        return None
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    words: list[WordBox] = []
    # Boxes are per character index; only trust them when the text lines up with the index.
    if len(raw) == textpage.count_chars():
        current: list[tuple[str, tuple[float, float, float, float]]] = []

        def flush() -> None:
            if not current:
                return
            left = min(box[0] for _, box in current)
            bottom = min(box[1] for _, box in current)
            right = max(box[2] for _, box in current)
            top = max(box[3] for _, box in current)
            words.append(
                WordBox(
                    text="".join(ch for ch, _ in current),
                    confidence=100.0,
                    left=round(left * scale),
                    top=round((page_height - top) * scale),
                    width=max(1, round((right - left) * scale)),
                    height=max(1, round((top - bottom) * scale)),
                )
            )
            current.clear()

        for index, ch in enumerate(raw):
            if ch.isspace():
                flush()
            else:
                current.append((ch, textpage.get_charbox(index)))
        flush()
    return PageText(
        number=number,
        text=text.strip(),
        confidence=100.0,
        engine="pdf-text",
        variant="text-layer",
        height=round(page_height * scale),
        words=words,
    )


class PdfPages:
    """A checked PDF: page count, per-page text layers, and pages rasterised on demand."""

    def __init__(self, data: bytes, limits: OcrLimits, settings: OcrSettings) -> None:
        pdfium = _pdfium()
        self.dpi = settings.dpi
        self._scale = settings.dpi / 72.0
        self._text: dict[int, PageText] = {}
        self._doubt: dict[int, str] = {}
        with _PDFIUM_LOCK:
            try:
                self._pdf = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as exc:
                # PDFium's error code can be stale from an earlier document, so a password
                # error only counts when the file really has an encryption dictionary.
                if getattr(exc, "err_code", None) == _FPDF_ERR_PASSWORD and b"/Encrypt" in data:
                    raise BadPayload(
                        "PDF is encrypted and needs a password; send an unencrypted copy"
                    ) from None
                raise BadPayload(f"PDF is corrupt or unreadable ({exc})") from None
            try:
                self._check(pdfium, limits, settings)
            except BaseException:
                self._pdf.close()
                raise

    def _check(self, pdfium: Any, limits: OcrLimits, settings: OcrSettings) -> None:
        # An encrypted PDF that opened without a password has an empty user password (only an
        # owner password restricting printing or copying): anyone can read it, and so do we.
        # One that needs a password was refused when it was opened.
        self.page_count = len(self._pdf)
        if self.page_count == 0:
            raise BadPayload("PDF has no pages")
        if self.page_count > limits.max_pages:
            raise BadPayload(
                f"PDF has {self.page_count} pages, over the limit of {limits.max_pages}"
            )
        for index in range(self.page_count):
            page = self._pdf[index]
            try:
                width_pt, height_pt = page.get_size()
                if settings.use_text_layer:
                    textpage = page.get_textpage()
                    try:
                        found = _text_layer(textpage, index + 1, self._scale, height_pt)
                    finally:
                        textpage.close()
                    if found is not None:
                        found.width = round(width_pt * self._scale)
                        self._text[index] = found
                        why = self._doubt_layer(page, found, (width_pt, height_pt))
                        if why is None:
                            continue
                        self._doubt[index] = why
                pixels = round(width_pt * self._scale) * round(height_pt * self._scale)
                if pixels > limits.max_pixels:
                    raise BadPayload(
                        f"PDF page {index + 1} would rasterise to {pixels} pixels at "
                        f"{settings.dpi} dpi, over the limit of {limits.max_pixels}"
                    )
            finally:
                page.close()

    def _doubt_layer(self, page: Any, layer: PageText, size: tuple[float, float]) -> str | None:
        """Why a page's text layer cannot be taken alone, or None (not a scan, or trusted)."""
        if _image_coverage(page, size) < MIN_IMAGE_COVERAGE:
            return None
        return doubt(layer, _layer_ink_covered(page, layer, self._scale))

    def pages(self) -> Iterator[SourcePage]:
        """Yield each page: its text layer if it has a trusted one, else its rendered
        grayscale image (with the doubted text layer, if any, to compare with)."""
        for index in range(self.page_count):
            if index in self._text and index not in self._doubt:
                yield SourcePage(number=index + 1, text=self._text[index])
                continue
            with _PDFIUM_LOCK:
                page = self._pdf[index]
                try:
                    bitmap = page.render(scale=self._scale, grayscale=True)
                    image: Image.Image = bitmap.to_pil().convert("L")
                    bitmap.close()
                finally:
                    page.close()
            yield SourcePage(
                number=index + 1,
                image=image,
                text=self._text.get(index),
                doubt=self._doubt.get(index),
            )

    def close(self) -> None:
        """Release the PDFium document."""
        with _PDFIUM_LOCK:
            self._pdf.close()
