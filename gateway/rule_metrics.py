"""Schedule counters for ``/metrics``, read from the store at each scrape.

Each schedule's fired and skipped counts are written with its slot decisions, in the same
transaction, so they survive restarts (a counter that only grows) and cost one read of the
small ``rules`` table per scrape, with no call to the orchestrator::

    robofleet_schedule_fired_total{schedule="nightly"} 12.0
    robofleet_schedule_skipped_total{schedule="nightly",reason="overlap"} 3.0
"""

from __future__ import annotations

import logging

from gateway.module_metrics import render_samples
from runtime.sdk import MetricSample
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)

SKIP_REASONS = ("overlap", "missed", "paused")
"""Reasons exported even at zero, so a rate over them is defined from the start."""


async def schedule_metrics_text(store: RobotStore) -> bytes:
    """Every schedule's fired and skipped totals as Prometheus text; empty if the store
    cannot be read."""
    try:
        records = await store.list_rules()
    except Exception:
        log.warning("reading schedule counts failed", exc_info=True)
        return b""
    samples: list[MetricSample] = []
    for record in records:
        if record.rule.on.schedule is None:
            continue
        name = record.rule.id
        samples.append(
            MetricSample(
                "robofleet_schedule_fired_total",
                record.state.fired,
                {"schedule": name},
                "counter",
                "Schedule slots (and trigger-now and backfill runs) that submitted a robot",
            )
        )
        skipped = {reason: 0 for reason in SKIP_REASONS} | record.state.skipped
        for reason, count in sorted(skipped.items()):
            samples.append(
                MetricSample(
                    "robofleet_schedule_skipped_total",
                    count,
                    {"schedule": name, "reason": reason},
                    "counter",
                    "Schedule slots skipped, by reason (overlap, missed, paused, failed)",
                )
            )
    return render_samples(samples)
