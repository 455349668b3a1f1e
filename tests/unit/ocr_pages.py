"""Small pages for the OCR tests: lines of text drawn in DejaVu, and hand-written PDFs that put
a full-page scan under a text layer (visible, or invisible as scanners write theirs)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

import pytest
from PIL import Image, ImageDraw, ImageFont

import cluster.invoice_samples as samples

A4_POINTS = (595, 842)


# The lines of the scanned invoice page the OCR page tests draw.
SCAN_LINES = [
    "INVOICE NUMBER INV-48213",
    "Date 2024-03-18  Due 2024-04-17",
    "Acme Trading Ltd, 12 High Street, London",
    "Widgets, blue, size large       4 x 120.00",
    "Shipping and handling                 34.50",
    "Total due 1,234.50 EUR",
]


def require_fonts() -> None:
    """Skip the calling test when the DejaVu fonts are missing."""
    if not samples.fonts_available():
        pytest.skip("DejaVu fonts are missing (fonts-dejavu-core)")


def text_page(lines: list[str], width: int = 900, size: int = 30, margin: int = 40) -> Image.Image:
    """Return a white grayscale page with ``lines`` drawn in black DejaVu Sans, one a row."""
    font = ImageFont.truetype(str(samples.font_path("sans")), size)
    step = round(size * 1.6)
    page = Image.new("L", (width, 2 * margin + step * len(lines)), 255)
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(lines):
        draw.text((margin, margin + row * step), line, font=font, fill=0)
    return page


def a4_scan(lines: list[str], dpi: int = 100, size_pt: float = 14.0) -> Image.Image:
    """Return an A4 page at ``dpi`` with ``lines`` drawn from the top, ``size_pt`` points
    high, the first line's top at 60 pt and one line every ``1.6 * size_pt`` points (so a
    text layer can be put exactly over them: see :func:`line_top_pt`)."""
    scale = dpi / 72.0
    page = Image.new("L", (round(A4_POINTS[0] * scale), round(A4_POINTS[1] * scale)), 255)
    font = ImageFont.truetype(str(samples.font_path("sans")), round(size_pt * scale))
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(lines):
        draw.text((40 * scale, line_top_pt(row, size_pt) * scale), line, font=font, fill=0)
    return page


def line_top_pt(row: int, size_pt: float = 14.0) -> float:
    """Return the top, in points from the page's top, of line ``row`` of :func:`a4_scan`."""
    return 60 + row * 1.6 * size_pt


def jpeg_with_orientation(stored: Image.Image, orientation: int) -> bytes:
    """Encode ``stored`` as a JPEG whose EXIF Orientation tag is ``orientation`` (1..8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.convert("RGB").save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def scan_pdf(
    image: Image.Image | None,
    runs: Sequence[tuple[float, float, float, str]] = (),
    invisible: bool = False,
) -> bytes:
    """Write a one-page A4 PDF: ``image`` stretched over the whole page (a scan), then text
    ``runs`` of (x, y from the top in points, size, text) in Helvetica; ``invisible`` writes
    them in render mode 3, as a scanner's hidden OCR layer is written."""
    width, height = A4_POINTS
    content = bytearray()
    resources = b"/Font << /F1 3 0 R >>"
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if image is not None:
        gray = image.convert("L")
        pixels = zlib.compress(gray.tobytes())
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
            % (gray.width, gray.height, len(pixels))
            + pixels
            + b"\nendstream"
        )
        resources += b" /XObject << /Im1 4 0 R >>"
        content += b"q %d 0 0 %d 0 0 cm /Im1 Do Q\n" % (width, height)
    else:
        objects.append(b"<< >>")
    for x, y, size, text in runs:
        mode = 3 if invisible else 0
        content += b"BT %d Tr /F1 %.1f Tf %.2f %.2f Td %s Tj ET\n" % (
            mode,
            size,
            x,
            height - y,
            _pdf_text(text),
        )
    objects.append(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << %s >> "
        b"/Contents 6 0 R >>" % (width, height, resources)
    )
    objects.append(b"<< /Length %d >>\nstream\n" % len(content) + bytes(content) + b"\nendstream")
    return samples.pdf_from_objects(objects)
