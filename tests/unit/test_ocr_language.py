"""Pages read in their language: detection, the Tesseract data chosen, and lang='auto'."""

from __future__ import annotations

import pytest
from PIL import Image

import cluster.invoice_samples as samples
from runtime.errors import BadPayload
from runtime.ocr import OcrEngine, TesseractEngine
from runtime.ocr.language import detect, majority, reading_lang, tesseract_code
from tests.unit.ocr_pages import require_fonts, text_page
from tests.unit.test_ocr_pipeline import StubReader

GERMAN = [
    "Rechnung Nr. 2024-118 vom 03.02.2024",
    "Müller & Söhne GmbH, Hauptstraße 12",
    "Größe: Übergröße, Menge 3 Stück",
    "Gesamtbetrag zu zahlen: 1.234,50 EUR",
]


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    engine = TesseractEngine()
    if not engine.available():
        pytest.skip("tesseract is not installed")
    if not {"eng", "deu"} <= engine.languages():
        pytest.skip("tesseract lacks eng or deu data (tesseract-ocr-deu)")
    return engine


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Rechnung Nr. 4711 Gesamtbetrag 12,50 EUR Müller GmbH", "de"),
        ("Invoice number 4711, total amount due within thirty days", "en"),
        ("Facture numéro 12, montant total à payer avant le 3 mars", "fr"),
        ("Factuur nummer 12, totaal te betalen binnen dertig dagen", "nl"),
        ("Factura número 12, importe total a pagar antes del viernes", "es"),
        ("Fattura numero 12, importo totale da pagare entro trenta giorni", "it"),
        ("Fatura número 12, valor total a pagar até trinta dias", "pt"),
    ],
)
def test_detects_the_supported_languages(text, code):
    found = detect(text)
    assert found.code == code and 0.6 <= found.confidence <= 1.0


def test_too_little_text_is_unknown():
    assert detect("12.50 EUR") == detect("") == detect("INV-1 12.50")
    assert detect("total 12.50").code is None


def test_tesseract_data_for_a_language():
    installed = frozenset({"eng", "deu", "fra"})
    assert tesseract_code("de") == "deu" and tesseract_code("ja") is None
    assert reading_lang("de", installed) == "deu+eng"
    assert reading_lang("en", installed) is None  # the first read was English already
    assert reading_lang("it", installed) is None  # not installed here
    assert reading_lang(None, installed) is None
    assert reading_lang("de", frozenset({"deu"})) == "deu"


def test_majority_language_of_pages():
    assert majority(["de", None, "en", "de"]) == "de"
    assert majority(["en", "de"]) == "en"
    assert majority([None, None]) is None


def test_german_page_under_auto_is_read_with_german_data(tesseract):
    require_fonts()
    data = samples.encode(text_page(GERMAN), "png")
    result = OcrEngine(tesseract=tesseract).process(data)  # lang defaults to "auto"
    assert result.language == "de" and result.pages[0].language == "de"
    assert result.pages[0].variant.endswith("/deu+eng")
    for word in ("Müller", "Söhne", "Hauptstraße", "Größe", "Stück"):
        assert word in result.text
    assert any(a.variant.endswith("/deu+eng") for a in result.attempts)


def _blank_png() -> bytes:
    return samples.encode(Image.new("L", (300, 200), 255), "png")


def test_explicit_lang_reads_with_that_data_only():
    tess = StubReader("tesseract", (95.0,))
    OcrEngine(tesseract=tess).process(_blank_png(), {"lang": "deu"})
    assert [call[2] for call in tess.calls] == ["deu"]


def test_auto_needs_english_data():
    class GermanOnly(StubReader):
        def languages(self):
            return frozenset({"deu"})

    engine = OcrEngine(tesseract=GermanOnly("tesseract", (95.0,)))
    with pytest.raises(BadPayload, match="OCR language 'eng' is not installed"):
        engine.process(_blank_png())


def test_pdf_text_layer_language_is_detected():
    tess = StubReader("tesseract", (95.0,))
    data = samples.text_pdf(
        [[(50, 100, 12, "Factuur nummer 12, totaal te betalen binnen dertig dagen", False)]]
    )
    result = OcrEngine(tesseract=tess).process(data)
    assert result.engine == "pdf-text" and tess.calls == []
    assert result.language == "nl" and result.pages[0].language == "nl"
