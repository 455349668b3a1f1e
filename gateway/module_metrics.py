"""Modules' own metrics (their ``metrics()`` hook, e.g. the OCR engines') for ``/metrics``.

At each scrape the gateway asks every live replica for its samples (one actor call each, in
parallel, two seconds at most) and appends them to its own metrics in the Prometheus text
format, labelled with ``module`` and ``replica``::

    robofleet_ocr_dedup_total{module="ocr",replica="ocr:0",result="hit"} 3.0
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from prometheus_client.utils import floatToGoString

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_S = 5.0
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_samples(samples: list[dict[str, Any]]) -> bytes:
    """Write samples (``name``, ``value``, ``labels``, ``kind``, ``help``) as Prometheus text."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        if _NAME.fullmatch(str(sample.get("name", ""))):
            by_name.setdefault(sample["name"], []).append(sample)
    lines: list[str] = []
    for name, group in by_name.items():
        kind = group[0].get("kind") if group[0].get("kind") in ("counter", "gauge") else "gauge"
        help_text = str(group[0].get("help") or name).replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for sample in group:
            labels = ",".join(
                f'{key}="{_escape(str(value))}"'
                for key, value in sample.get("labels", {}).items()
                if _LABEL.fullmatch(str(key))
            )
            lines.append(f"{name}{{{labels}}} {floatToGoString(float(sample['value']))}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


async def module_metrics_text(fleet: Any) -> bytes:
    """The replicas' samples as Prometheus text; empty when the fleet cannot gather them."""
    gather = getattr(fleet, "module_metrics", None)
    if gather is None:
        return b""
    try:
        samples = await asyncio.wait_for(gather(), SCRAPE_TIMEOUT_S)
    except Exception:
        log.warning("gathering module metrics failed", exc_info=True)
        return b""
    return render_samples(samples)
