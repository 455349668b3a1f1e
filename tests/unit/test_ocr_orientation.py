"""Pages read upright: a phone JPEG's EXIF orientation, and sideways scans found by OSD."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import cluster.invoice_samples as samples
from runtime.ocr import EngineFailed, OcrEngine, TesseractEngine, WordBox, open_document
from runtime.ocr.orientation import Orientation, doubtful, looks_sideways, parse_osd, turn
from tests.unit.ocr_pages import SCAN_LINES, jpeg_with_orientation, require_fonts, text_page
from tests.unit.test_ocr_pipeline import StubReader

LINES = ["INVOICE NUMBER INV-48213", "Total due 1,234.50 EUR", "Acme Trading Ltd London"]


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    engine = TesseractEngine()
    if not engine.available():
        pytest.skip("tesseract is not installed")
    return engine


def test_exif_orientation_is_applied_before_reading(tesseract):
    require_fonts()
    page = text_page(LINES)
    # Stored turned a quarter counter-clockwise; Orientation 6 says "turn 90 clockwise to view".
    data = jpeg_with_orientation(page.transpose(Image.Transpose.ROTATE_90), 6)
    _, document = open_document(data)
    try:
        (source,) = list(document.pages())
    finally:
        document.close()
    assert source.image is not None and source.image.size == page.size
    result = OcrEngine(tesseract=tesseract).process(data, {"lang": "eng"})
    assert "INV-48213" in result.text and "1,234.50" in result.text


def test_exif_mirror_and_no_tag():
    require_fonts()
    page = text_page(["Mirror"], width=300)
    _, document = open_document(
        jpeg_with_orientation(page.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 2)
    )
    try:
        (mirrored,) = list(document.pages())
    finally:
        document.close()
    assert mirrored.image is not None and mirrored.image.size == page.size
    assert _difference(mirrored.image, page) < 3  # the mirror is undone (JPEG noise aside)
    # Orientation 1 (upright) leaves the frame as stored.
    _, document = open_document(jpeg_with_orientation(page, 1))
    try:
        (plain,) = list(document.pages())
    finally:
        document.close()
    assert plain.image is not None and plain.image.size == page.size


def _difference(one: Image.Image, other: Image.Image) -> float:
    """Mean absolute gray-level difference of two same-size pages."""
    return float(np.abs(np.asarray(one, float) - np.asarray(other.convert("L"), float)).mean())


@pytest.mark.parametrize("stored_turn", [90, 180])
def test_turned_scan_in_image_only_pdf_is_read_upright(tesseract, stored_turn):
    require_fonts()
    page = text_page(SCAN_LINES, width=1000, size=28)
    # PIL turns counter-clockwise: the scan lies on its side (or upside down) in the PDF.
    data = samples.encode(page.rotate(stored_turn, expand=True), "pdf")
    result = OcrEngine(tesseract=tesseract).process(data, {"lang": "eng"})
    read = result.pages[0]
    assert read.rotation == stored_turn  # turned clockwise as much as it was turned back
    assert "INV-48213" in result.text and "1,234.50" in result.text
    assert read.confidence > 85
    osd = [a for a in result.attempts if a.variant.startswith("osd/")]
    assert len(osd) == 1 and osd[0].error is None


def test_upright_page_pays_for_no_orientation_check(tesseract):
    require_fonts()
    data = samples.encode(text_page(SCAN_LINES, width=1000, size=28), "png")
    result = OcrEngine(tesseract=tesseract).process(data, {"lang": "eng"})
    assert [a.variant for a in result.attempts] == ["gray/psm3"]
    assert result.pages[0].rotation == 0


class OsdStub(StubReader):
    """A Tesseract stand-in whose OSD answers as told (or fails)."""

    def __init__(self, confidences, answer):
        super().__init__("tesseract", confidences)
        self.answer = answer
        self.asked = 0

    def orientation(self, image):
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _blank_png() -> bytes:
    return samples.encode(Image.new("L", (300, 200), 255), "png")


def test_unsure_osd_leaves_the_page_as_it_is():
    tess = OsdStub((40.0, 50.0), Orientation(rotate=90, confidence=0.8))
    result = OcrEngine(
        tesseract=tess, rapidocr=StubReader("rapidocr", (), installed=False)
    ).process(_blank_png(), {"lang": "eng"})
    assert tess.asked == 1 and result.pages[0].rotation == 0
    assert [a.variant for a in result.attempts] == [
        "gray/psm3",
        "osd/rotate90/conf0.8",
        "binarized/psm6",
    ]


def test_sure_osd_turns_the_page_and_the_better_read_is_kept():
    tess = OsdStub((40.0, 90.0), Orientation(rotate=270, confidence=9.5))
    result = OcrEngine(tesseract=tess).process(_blank_png(), {"lang": "eng"})
    page = result.pages[0]
    assert page.rotation == 270 and page.variant == "gray/psm3/rot270"
    assert (page.width, page.height) == (200, 300)
    assert tess.calls[1][0] == (200, 300)  # the second read saw the page turned


def test_failing_osd_is_recorded_and_reading_goes_on():
    tess = OsdStub((40.0, 60.0), EngineFailed("tesseract osd failed: Too few characters"))
    result = OcrEngine(tesseract=tess, rapidocr=StubReader("rapidocr", (70.0,))).process(
        _blank_png(), {"lang": "eng"}
    )
    osd = result.attempts[1]
    assert osd.variant == "osd" and "Too few characters" in (osd.error or "")
    assert result.engine == "rapidocr" and result.pages[0].rotation == 0


def test_osd_answers_parse_and_turns_are_lossless():
    found = parse_osd({"rotate": 90, "orientation_conf": 11.68, "script": "Latin"})
    assert found == Orientation(90, 11.68, "Latin") and found.trusted
    assert not parse_osd({"rotate": 0, "orientation_conf": 20}).trusted
    with pytest.raises(ValueError):
        parse_osd({"orientation": 90})
    page = Image.new("L", (30, 20), 255)
    page.putpixel((0, 0), 0)
    assert turn(page, 90).size == (20, 30) and turn(page, 90).getpixel((19, 0)) == 0
    assert turn(turn(page, 180), 180).tobytes() == page.tobytes()
    with pytest.raises(ValueError):
        turn(page, 45)


def test_sideways_words_are_doubtful_even_when_confident():
    tall = [WordBox(text="INVOICE", confidence=95, left=0, top=0, width=20, height=140)] * 3
    wide = [WordBox(text="INVOICE", confidence=95, left=0, top=0, width=140, height=20)] * 3
    assert looks_sideways(tall) and doubtful(95.0, tall, 85.0)
    assert not looks_sideways(wide) and not doubtful(95.0, wide, 85.0)
    assert doubtful(40.0, wide, 85.0)
    assert not doubtful(60.0, wide, 85.0)  # upright but poor: the fallback chain's business
    assert not doubtful(40.0, wide, 30.0)  # confident enough for this caller


class SidewaysStub(OsdStub):
    """Reads the page as stored with tall word boxes (sideways), turned with wide ones."""

    def read(self, image, psm=None, lang=None):
        read = super().read(image, psm, lang)
        if image.width > image.height:  # the page as stored: 300 x 200
            read.words = [
                WordBox(text="INVOICE", confidence=90, left=0, top=0, width=20, height=140)
            ]
        return read


def test_a_sideways_read_gives_way_to_the_turned_page_even_when_more_confident():
    tess = SidewaysStub((70.0, 60.0, 95.0), Orientation(rotate=90, confidence=11.0))
    result = OcrEngine(tesseract=tess, rapidocr=StubReader("rapidocr", (80.0,))).process(
        _blank_png(), {"lang": "eng"}
    )
    page = result.pages[0]
    assert page.rotation == 90 and (page.width, page.height) == (200, 300)
    # The rest of the chain read the turned page too.
    assert all(size == (300, 450) for size, _, _ in tess.calls[2:])
    assert [a.variant for a in result.attempts] == [
        "gray/psm3",
        "osd/rotate90/conf11",
        "gray/psm3/rot90",
        "binarized/psm6/rot90",
    ]
