"""Preprocessing: grayscale, Otsu threshold, skew estimate."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from runtime.ocr.preprocess import (
    clean_for_ocr,
    deskew,
    estimate_skew,
    otsu_level,
    threshold,
    to_grayscale,
)


def _lines_page(width=800, height=1000, paper=255, ink=0) -> Image.Image:
    """A page of dark horizontal bars standing in for text lines."""
    page = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(page)
    for top in range(80, height - 80, 40):
        draw.rectangle((80, top, width - 80 - (top * 7) % 200, top + 14), fill=ink)
    return page


def test_grayscale_flattens_transparency_onto_white():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_grayscale(rgba).getextrema() == (255, 255)
    assert to_grayscale(Image.new("RGB", (4, 4), (255, 0, 0))).mode == "L"


def test_otsu_splits_ink_from_paper():
    page = _lines_page(paper=200, ink=60)
    level = otsu_level(page)
    assert 60 <= level < 200
    assert set(threshold(page).getdata()) == {0, 255}


@pytest.mark.parametrize("angle", [-3.0, -1.2, 0.0, 1.5, 4.0])
def test_estimate_skew_finds_the_rotation(angle):
    page = _lines_page().rotate(angle, expand=True, fillcolor=255)
    assert estimate_skew(page) == pytest.approx(-angle, abs=0.25)


def test_deskew_leaves_a_straight_page_alone():
    page = _lines_page()
    straight, applied = deskew(page)
    assert applied == 0.0 and straight.size == page.size


def test_deskew_fills_corners_with_the_paper_shade():
    page = _lines_page(paper=200, ink=40).rotate(3, expand=True, fillcolor=200)
    straight, applied = deskew(page)
    assert applied == pytest.approx(-3, abs=0.25)
    assert abs(straight.getpixel((0, 0)) - 200) <= 2


def test_clean_for_ocr_binarises_and_upscales_small_pages():
    cleaned, scale = clean_for_ocr(_lines_page(paper=210, ink=70))
    assert scale == 1.5 and cleaned.size == (1200, 1500)
    assert set(cleaned.getdata()) <= {0, 255}
