"""Calibrated confidence: a field's raw score (0..1) mapped to how often such values are right.

The map is measured, not set by hand: ``python -m bench.fields --fit`` reads the tuning
documents of ``bench/fields_data`` (never the held-out ones), fits a monotone (isotonic) curve
from raw score to "was the value right" per field, and writes it to
``runtime/ocr/labels/calibration.json`` as ``{field: [[raw, chance], ...]}`` points, read
here with linear interpolation between points, as a cap on the raw score. A field with no
curve keeps its raw score.
"""

from __future__ import annotations

import bisect
import functools
import json
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("labels") / "calibration.json"
# At or above this calibrated confidence a field is "sure"; below it, the answer says unsure.
SURE = 0.9


@functools.cache
def curves() -> dict[str, list[tuple[float, float]]]:
    """The fitted curves by field name (empty when none has been fitted)."""
    if not CALIBRATION_FILE.exists():
        return {}
    raw = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return {
        name: sorted((float(x), float(y)) for x, y in points)
        for name, points in raw.get("curves", {}).items()
    }


def calibrate(field: str, score: float) -> float:
    """Map ``score`` (0..1) for ``field`` to a calibrated 0..1 confidence.

    The fitted chance caps the score and never raises it: the tuning documents are few and of
    other vendors' layouts than the ones a user will send, so where they were right more often
    than the score says, the score's own evidence (label, checks, OCR confidence) stands.
    """
    return min(score, _fitted(field, score))


def _fitted(field: str, score: float) -> float:
    points = curves().get(field)
    if not points:
        return score
    xs = [x for x, _ in points]
    at = bisect.bisect_left(xs, score)
    if at == 0:
        return points[0][1]
    if at >= len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[at - 1], points[at]
    if x1 == x0:
        return y1
    return y0 + (y1 - y0) * (score - x0) / (x1 - x0)
