"""Page preprocessing with Pillow: grayscale, threshold, denoise and deskew."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Skew search: a scanned page is rarely more than a few degrees off.
MAX_SKEW_DEGREES = 5.0
# Below this the rotation costs more (resampling blur) than it gains.
MIN_SKEW_DEGREES = 0.3
_SKEW_PROBE_WIDTH = 700


def to_grayscale(image: Image.Image) -> Image.Image:
    """Return the image as 8-bit grayscale, transparent areas as white paper."""
    if image.mode == "L":
        return image
    if image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("L")
    return image.convert("L")


def otsu_level(image: Image.Image) -> int:
    """Return the gray level that best splits a grayscale image into ink and paper (Otsu)."""
    histogram = np.asarray(to_grayscale(image).histogram(), dtype=np.float64)
    total = histogram.sum()
    if total == 0:
        return 128
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(histogram)
    weight_light = total - weight_dark
    sum_dark = np.cumsum(histogram * levels)
    mean_dark = np.divide(sum_dark, weight_dark, out=np.zeros(256), where=weight_dark > 0)
    mean_light = np.divide(
        sum_dark[-1] - sum_dark, weight_light, out=np.zeros(256), where=weight_light > 0
    )
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between))


def threshold(image: Image.Image, level: int | None = None) -> Image.Image:
    """Return a black-and-white ("L" mode, 0 or 255) copy; the level defaults to Otsu's."""
    gray = to_grayscale(image)
    cut = otsu_level(gray) if level is None else level
    return gray.point(lambda value: 255 if value > cut else 0)


def _profile_score(ink: Image.Image, angle: float) -> float:
    rotated = ink.rotate(angle, resample=Image.Resampling.NEAREST, expand=True, fillcolor=0)
    rows = np.asarray(rotated, dtype=np.float64).sum(axis=1)
    # Text lines aligned with the rows give a spiky profile: large jumps between rows.
    return float(np.square(np.diff(rows)).sum())


def estimate_skew(image: Image.Image, max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """Return the angle (degrees, counter-clockwise) that makes text lines horizontal.

    Projection-profile search: rotate a small inked copy over ±max_degrees in 0.5° steps,
    then 0.1° around the best, keeping the angle whose row sums change most sharply.
    """
    gray = to_grayscale(image)
    if gray.width > _SKEW_PROBE_WIDTH:
        height = max(1, round(gray.height * _SKEW_PROBE_WIDTH / gray.width))
        gray = gray.resize((_SKEW_PROBE_WIDTH, height), Image.Resampling.BILINEAR)
    cut = otsu_level(gray)
    ink = gray.point(lambda value: 1 if value <= cut else 0)
    if ink.getbbox() is None:  # a blank page has no lines to straighten
        return 0.0

    def score(angle: float) -> tuple[float, float]:
        # On a tie (e.g. a page of noise) prefer the smaller rotation.
        return _profile_score(ink, angle), -abs(angle)

    steps = int(round(max_degrees / 0.5))
    best = max((step * 0.5 for step in range(-steps, steps + 1)), key=score)
    return max((round(best + step * 0.1, 2) for step in range(-4, 5)), key=score)


def deskew(image: Image.Image, max_degrees: float = MAX_SKEW_DEGREES) -> tuple[Image.Image, float]:
    """Return the page rotated straight and the angle applied (0.0 when it was straight)."""
    gray = to_grayscale(image)
    angle = estimate_skew(gray, max_degrees)
    if abs(angle) < MIN_SKEW_DEGREES:
        return gray, 0.0
    # Fill the corners with the paper's own shade: white wedges on a gray scan would skew the
    # ink/paper threshold Tesseract picks and can blank the whole page.
    paper = int(np.percentile(np.asarray(gray), 90))
    straight = gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    return straight, angle


def clean_for_ocr(image: Image.Image) -> tuple[Image.Image, float]:
    """Return a denoised, contrast-stretched, binarised copy for a second OCR try, and its scale.

    A median filter removes scanner speckle, the autocontrast undoes a washed-out scan, and
    a modest upscale gives blurred small print more pixels per stroke before thresholding.
    """
    gray = to_grayscale(image).filter(ImageFilter.MedianFilter(3))
    gray = ImageOps.autocontrast(gray, cutoff=1)
    scale = 1.0
    if gray.width < 2000:
        scale = 1.5
        gray = gray.resize(
            (round(gray.width * scale), round(gray.height * scale)), Image.Resampling.LANCZOS
        )
    return threshold(gray), scale
