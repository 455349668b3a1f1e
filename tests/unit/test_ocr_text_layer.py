"""A PDF page's text layer is trusted only when it holds what the page shows."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw

import cluster.invoice_samples as samples
from runtime.ocr import OcrEngine, PageText, TesseractEngine
from runtime.ocr.text_layer import (
    choose,
    doubt,
    image_coverage,
    ink_covered,
    plausibility,
    token_kind,
)
from tests.unit.ocr_pages import SCAN_LINES as LINES
from tests.unit.ocr_pages import a4_scan, line_top_pt, require_fonts, scan_pdf
from tests.unit.test_ocr_pipeline import StubReader

FOOTER = [(40.0, 820.0, 8.0, "Scanned by Acme DocuCentre 3000 - page 1 of 1")]
SETTINGS = {"lang": "eng", "dpi": 100}


def _garbled(count: int, seed: int = 7) -> str:
    """What a scanner's failed OCR layer looks like: runs of look-alike glyphs."""
    rng = random.Random(seed)
    glyphs = "lI1|!i;:.,~^rnmvwxzqk0O3B8"
    return " ".join(
        "".join(rng.choice(glyphs) for _ in range(rng.randint(1, 6))) for _ in range(count)
    )


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    tesseract = TesseractEngine()
    if not tesseract.available():
        pytest.skip("tesseract is not installed")
    require_fonts()
    return OcrEngine(tesseract=tesseract)


def test_scan_with_a_small_digital_footer_is_read_by_ocr(engine):
    result = engine.process(scan_pdf(a4_scan(LINES), FOOTER), SETTINGS)
    page = result.pages[0]
    assert page.engine == "tesseract" and "over text layer sparse" in page.variant
    assert "INV-48213" in result.text and "1,234.50" in result.text
    assert result.attempts and page.language == "en"


def test_scan_with_a_garbled_invisible_layer_is_read_by_ocr(engine):
    layer = [(40.0, line_top_pt(row) + 12, 14.0, _garbled(8, row)) for row in range(6)]
    result = engine.process(scan_pdf(a4_scan(LINES), layer, invisible=True), SETTINGS)
    page = result.pages[0]
    assert page.engine == "tesseract" and "over text layer implausible" in page.variant
    assert "INV-48213" in result.text and "|" not in result.text


def test_scan_with_a_good_invisible_layer_keeps_the_fast_path(engine):
    layer = [(40.0, line_top_pt(row) + 12, 14.0, line) for row, line in enumerate(LINES)]
    result = engine.process(scan_pdf(a4_scan(LINES), layer, invisible=True), SETTINGS)
    assert result.engine == "pdf-text" and result.attempts == []
    assert result.pages[0].variant == "text-layer" and "INV-48213" in result.text


def test_digital_pdf_stays_on_the_text_layer_path():
    tess = StubReader("tesseract", (95.0,))
    runs = [(50, 100 + 20 * row, 12, line, False) for row, line in enumerate(LINES)]
    result = OcrEngine(tesseract=tess).process(samples.text_pdf([runs]), SETTINGS)
    assert result.engine == "pdf-text" and result.attempts == [] and tess.calls == []
    assert result.pages[0].variant == "text-layer"


def test_doubted_layer_is_kept_when_ocr_fails():
    require_fonts()
    tess = StubReader("tesseract", (), fail=True)
    rapid = StubReader("rapidocr", (), installed=False)
    data = scan_pdf(a4_scan(LINES), FOOTER)
    result = OcrEngine(tesseract=tess, rapidocr=rapid).process(data, SETTINGS)
    page = result.pages[0]
    assert page.engine == "pdf-text" and page.variant.startswith("text-layer; ocr failed; sparse")
    assert "DocuCentre" in page.text


def _page(text: str, engine: str = "tesseract", variant: str = "gray/psm3") -> PageText:
    return PageText(number=1, text=text, confidence=90.0, engine=engine, variant=variant)


def test_a_plausible_layer_that_holds_what_ocr_read_wins():
    layer = _page("Invoice INV-1 total 12.50 EUR", "pdf-text", "text-layer")
    kept = choose(layer, _page("lnvoice INV-1 tota1 12.50 EUR"), "sparse 0.40")
    assert (
        kept.engine == "pdf-text" and kept.variant == "text-layer; holds what ocr read; sparse 0.40"
    )
    ocr = choose(layer, _page("Invoice INV-1 total 12.50 EUR " * 3), "sparse 0.40")
    assert ocr.engine == "tesseract" and ocr.variant == "gray/psm3; over text layer sparse 0.40"
    garbled = choose(layer, _page("Invoice"), "implausible 0.20")
    assert garbled.engine == "tesseract"


def test_plausibility_of_real_and_garbled_text():
    invoice = samples.random_invoice(random.Random(3))
    text = "\n".join(" ".join(cell for cell in line if cell) for line in invoice.lines)
    assert plausibility(text) > 0.9
    german = "Müller & Söhne GmbH, Hauptstraße 12 — Gesamtbetrag: 1.234,50 € (z.B. B.V.)"
    assert plausibility(german) > 0.9
    assert plausibility(_garbled(60)) < 0.5
    assert plausibility("") == 0.0
    assert token_kind("—") is None and token_kind("INV-2024/17") and token_kind("+44")
    assert not token_kind("tHe") and not token_kind("n1:1") and not token_kind("|^zIw")


def test_doubt_names_the_failed_measure():
    layer = _page("Invoice INV-1 total 12.50 EUR from Acme Ltd", "pdf-text", "text-layer")
    assert doubt(layer, 0.95) is None
    assert doubt(layer, 0.12) == "sparse 0.12"
    assert doubt(layer, None) == "sparse 0.00"
    assert doubt(_page(_garbled(30), "pdf-text"), 0.95).startswith("implausible")


def test_image_coverage_is_the_union_share():
    page = (600.0, 800.0)
    assert image_coverage([(0, 0, 600, 800)], page) == 1.0
    assert image_coverage([(0, 0, 300, 800), (0, 0, 300, 800)], page) == 0.5
    assert image_coverage([(0, 0, 600, 400), (0, 400, 600, 800)], page) == 1.0
    assert image_coverage([(-50, -50, 60, 80)], page) == pytest.approx(0.01)
    assert image_coverage([], page) == 0.0


def test_ink_covered_counts_inked_rows_under_the_boxes():
    page = Image.new("L", (200, 100), 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((10, 10, 190, 19), fill=0)
    draw.rectangle((10, 60, 190, 69), fill=0)
    assert ink_covered(page, [(10, 20)]) == pytest.approx(0.5)
    assert ink_covered(page, [(10, 20), (60, 70)]) == 1.0
    assert ink_covered(Image.new("L", (50, 50), 255), []) == 1.0
