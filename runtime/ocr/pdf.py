"""PDF pages through PDFium: checks before work, text layers, and rasterising.

PDFium is not thread-safe, and OCR robots run in threads, so every PDFium call in the
process goes through one lock. Rendering a page is the only slow call and takes tens of
milliseconds; OCR itself runs outside the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image

from runtime.errors import BadPayload
from runtime.ocr.images import SourcePage
from runtime.ocr.results import OcrLimits, OcrSettings, PageText, WordBox

_PDFIUM_LOCK = threading.Lock()
# A page whose text layer has fewer letters and digits than this is treated as a scan.
MIN_TEXT_LAYER_CHARS = 10
_FPDF_ERR_PASSWORD = 4


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
                        continue
                pixels = round(width_pt * self._scale) * round(height_pt * self._scale)
                if pixels > limits.max_pixels:
                    raise BadPayload(
                        f"PDF page {index + 1} would rasterise to {pixels} pixels at "
                        f"{settings.dpi} dpi, over the limit of {limits.max_pixels}"
                    )
            finally:
                page.close()

    def pages(self) -> Iterator[SourcePage]:
        """Yield each page: its text layer if it has one, else its rendered grayscale image."""
        for index in range(self.page_count):
            if index in self._text:
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
            yield SourcePage(number=index + 1, image=image)

    def close(self) -> None:
        """Release the PDFium document."""
        with _PDFIUM_LOCK:
            self._pdf.close()
