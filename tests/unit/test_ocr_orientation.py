"""Pages read upright: a phone JPEG's EXIF orientation, and sideways scans found by OSD."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.ocr import OcrEngine, TesseractEngine, open_document
from tests.unit.ocr_pages import jpeg_with_orientation, require_fonts, text_page

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
