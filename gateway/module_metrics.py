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
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client.utils import floatToGoString

from runtime.sdk import MetricSample

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_S = 5.0
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_samples(samples: Iterable[MetricSample]) -> bytes:
    """Write samples as Prometheus text, grouped by name; names and labels that Prometheus
    would refuse are left out. The first sample of a name gives its kind and help."""
    by_name: dict[str, list[MetricSample]] = {}
    for sample in samples:
        if _NAME.fullmatch(sample.name):
            by_name.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name, group in by_name.items():
        kind = group[0].kind if group[0].kind in ("counter", "gauge") else "gauge"
        help_text = (group[0].help or name).replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for sample in group:
            labels = ",".join(
                f'{key}="{_escape(str(value))}"'
                for key, value in sample.labels.items()
                if _LABEL.fullmatch(str(key))
            )
            lines.append(f"{name}{{{labels}}} {floatToGoString(float(sample.value))}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


async def module_metrics_text(gather: Callable[[], Awaitable[list[MetricSample]]]) -> bytes:
    """The replicas' samples (from ``gather``) as Prometheus text; empty if gathering fails
    or takes over :data:`SCRAPE_TIMEOUT_S` seconds."""
    try:
        samples = await asyncio.wait_for(gather(), SCRAPE_TIMEOUT_S)
    except Exception:
        log.warning("gathering module metrics failed", exc_info=True)
        return b""
    return render_samples(samples)
