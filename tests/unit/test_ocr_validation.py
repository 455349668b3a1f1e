"""Document checks: every kind of bad document fails with a clear reason, good ones open."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

import cluster.invoice_samples as samples
from runtime.errors import BadPayload
from runtime.ocr import OcrLimits, OcrSettings, open_document, validate_document


def _image(fmt: str, size=(200, 100), mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 255).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return samples.pixel_bomb_png(30000)


def test_bomb_is_small_on_disk(bomb):
    assert len(bomb) < 1_000_000  # ~150 KB that would inflate to 900 Mpx


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "document is empty"),
        (lambda: b"Dear customer, please find attached", "not a PNG, JPEG, TIFF or PDF"),
        (lambda: b"GIF89a" + b"\0" * 100, "not a PNG, JPEG, TIFF or PDF"),
        (samples.truncated_png, "PNG image data is truncated or corrupt"),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "PNG image is corrupt"),
        (lambda: b"\xff\xd8\xff" + b"\0" * 50, "JPEG image is corrupt"),
        (samples.corrupt_pdf, "PDF is corrupt or unreadable"),
        (samples.encrypted_pdf, "PDF is encrypted"),
        (lambda: b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024), "over the limit of 1048576 bytes"),
    ],
    ids=[
        "empty",
        "text",
        "gif",
        "truncated-png",
        "png-header-only",
        "jpeg-garbage",
        "corrupt-pdf",
        "encrypted-pdf",
        "too-big",
    ],
)
def test_bad_documents_raise_bad_payload(make, reason):
    with pytest.raises(BadPayload, match=reason):
        validate_document(make(), OcrLimits(max_bytes=1024 * 1024))


def test_pixel_bomb_is_refused_without_decoding(bomb):
    started = time.perf_counter()
    with pytest.raises(BadPayload, match="too large to decode safely|over the limit"):
        validate_document(bomb)
    assert time.perf_counter() - started < 1.0  # decoding 900 Mpx would take far longer


def test_image_over_our_pixel_limit_but_under_pillows(bomb):
    # 7000 x 7000 = 49 Mpx: Pillow's own guard (89 Mpx) lets it through, ours must not.
    with pytest.raises(BadPayload, match=r"7000x7000 = 49000000 pixels, over the limit"):
        validate_document(samples.pixel_bomb_png(7000))


def test_image_between_pillows_warning_and_error_is_refused():
    # 10000 x 10000 makes Pillow warn (an error under this suite's filterwarnings).
    with pytest.raises(BadPayload):
        validate_document(samples.pixel_bomb_png(10000))


def test_raised_pixel_limit_is_honoured():
    media_type, document = open_document(_image("PNG"), OcrLimits(max_pixels=100_000_000))
    document.close()
    assert media_type == "image/png"
    with pytest.raises(BadPayload, match="over the limit of 10000"):
        validate_document(_image("PNG"), OcrLimits(max_pixels=10_000))


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("TIFF", "image/tiff")]
)
def test_good_images_open_as_grayscale_pages(fmt, media_type):
    media_type_seen, document = open_document(_image(fmt, mode="RGB"))
    try:
        pages = list(document.pages())
    finally:
        document.close()
    assert media_type_seen == media_type
    assert [page.number for page in pages] == [1]
    assert pages[0].image.mode == "L" and pages[0].image.size == (200, 100)


def test_transparent_png_becomes_white_paper():
    buffer = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(buffer, "PNG")
    _, document = open_document(buffer.getvalue())
    page = next(document.pages())
    document.close()
    assert page.image.getextrema() == (255, 255)


def _multipage_tiff(count: int) -> bytes:
    frames = [Image.new("L", (50, 40), 255) for _ in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def test_multipage_tiff_and_its_page_limit():
    _, document = open_document(_multipage_tiff(3))
    assert [page.number for page in document.pages()] == [1, 2, 3]
    document.close()
    with pytest.raises(BadPayload, match="TIFF image has 3 pages, over the limit of 2"):
        validate_document(_multipage_tiff(3), OcrLimits(max_pages=2))


def _pdf(pages: int, text: str = "Invoice INV-1 total 10.00 EUR from Acme Ltd") -> bytes:
    return samples.text_pdf([[(50, 100, 12, text, False)] for _ in range(pages)])


def test_pdf_text_layer_is_read_directly():
    media_type, document = open_document(_pdf(2))
    pages = list(document.pages())
    document.close()
    assert media_type == "application/pdf"
    assert [page.number for page in pages] == [1, 2]
    first = pages[0].text
    assert first is not None and pages[0].image is None
    assert first.text == "Invoice INV-1 total 10.00 EUR from Acme Ltd"
    assert first.engine == "pdf-text" and first.confidence == 100.0
    assert [word.text for word in first.words][:3] == ["Invoice", "INV-1", "total"]
    invoice = first.words[0]
    # 50 pt from the left, baseline 100 pt from the top, at 200 dpi.
    assert invoice.left == pytest.approx(50 * 200 / 72, abs=6)  # glyph box, not pen
    assert invoice.top < 100 * 200 / 72 < invoice.top + invoice.height + 10


def test_pdf_without_text_layer_is_rasterised():
    data = samples.encode(Image.new("L", (300, 200), 255), "pdf")
    _, document = open_document(data, settings=OcrSettings(dpi=100))
    pages = list(document.pages())
    document.close()
    assert pages[0].text is None and pages[0].image is not None
    assert pages[0].image.mode == "L"
    # 300 px at 150 dpi is 2 in; at 100 dpi that is 200 px.
    assert pages[0].image.size == (200, 133) or pages[0].image.size == (200, 134)


def test_pdf_text_layer_can_be_ignored():
    _, document = open_document(_pdf(1), settings=OcrSettings(use_text_layer=False))
    pages = list(document.pages())
    document.close()
    assert pages[0].text is None and pages[0].image is not None


def test_pdf_page_limit():
    with pytest.raises(BadPayload, match="PDF has 3 pages, over the limit of 2"):
        validate_document(_pdf(3), OcrLimits(max_pages=2))


def test_pdf_page_that_would_rasterise_too_large():
    data = samples.encode(Image.new("L", (300, 200), 255), "pdf")
    with pytest.raises(BadPayload, match="PDF page 1 would rasterise to .* pixels at 600 dpi"):
        validate_document(data, OcrLimits(max_pixels=500_000), OcrSettings(dpi=600))


def test_pdf_with_no_pages():
    with pytest.raises(BadPayload, match="PDF (has no pages|is corrupt)"):
        validate_document(samples.text_pdf([]))


def test_a_pdf_locked_only_by_an_owner_password_is_read():
    # Real invoices often come "encrypted" with an empty user password: only printing or
    # copying is restricted, and every reader opens them. One that needs a password is refused.
    import io

    import pypdf

    from runtime.ocr.pipeline import OcrEngine

    plain = samples.text_pdf([[(53, 100, 12, "Invoice No: INV-7 Total 10.00 EUR", False)]])
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(plain)))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="RC4-128")
    locked = io.BytesIO()
    writer.write(locked)
    result = OcrEngine().process(locked.getvalue())
    assert result.engine == "pdf-text"
    assert "INV-7" in result.pages[0].text
