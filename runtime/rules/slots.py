"""Schedule slots: when a cron expression or an interval fires, in a time zone, with jitter.

Cron is parsed and iterated by ``croniter`` (maintained, handles time zones and the
daylight-saving changes of zone-aware datetimes, five- and six-field expressions): a
wall-clock time that does not exist on the spring-forward day fires once at the first
time after the gap; on the fall-back day a job at fixed hours fires once, at the first of
the two equal wall-clock times, while one at every hour (``*`` in the hour field) fires in
both hours: what Vixie cron does. Intervals are anchored at ``start_at`` (else at the Unix
epoch), so their slots do not depend on when the orchestrator started.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from runtime.rules.model import ScheduleTrigger

__all__ = ["fire_time", "slots_after"]


def slots_after(trigger: ScheduleTrigger, after: float) -> Iterator[float]:
    """Slots (Unix times) strictly after ``after``, in order, within start and end."""
    if trigger.start_at is not None and after < trigger.start_at:
        after = math.nextafter(trigger.start_at, -math.inf)
    source = _interval(trigger, after) if trigger.every_s is not None else _cron(trigger, after)
    for slot in source:
        if trigger.end_at is not None and slot > trigger.end_at:
            return
        yield slot


def _interval(trigger: ScheduleTrigger, after: float) -> Iterator[float]:
    every = trigger.every_s
    assert every is not None
    anchor = trigger.start_at or 0.0
    n = math.floor((after - anchor) / every) + 1
    while True:
        slot = anchor + n * every
        if slot > after:
            yield slot
        n += 1


def _cron(trigger: ScheduleTrigger, after: float) -> Iterator[float]:
    """Cron slots after ``after``; they end where datetimes do (the year 9999)."""
    try:
        yield from _cron_slots(trigger, after)
    except (OverflowError, ValueError, CroniterError):
        return


def _cron_slots(trigger: ScheduleTrigger, after: float) -> Iterator[float]:
    assert trigger.cron is not None
    zone = ZoneInfo(trigger.timezone)
    fields = trigger.cron.split()
    fixed_hours = "*" not in fields[1]
    start = datetime.fromtimestamp(after, zone)
    iterator = croniter(trigger.cron, start)
    # The cursor's own wall-clock time: after a restart at 02:30 CEST on the fall-back day,
    # 02:30 CET is that wall-clock time again.
    previous_wall: datetime | None = start.replace(tzinfo=None)
    while True:
        moment: datetime = iterator.get_next(datetime)
        wall = moment.replace(tzinfo=None)
        if fixed_hours and wall == previous_wall:
            continue  # the fall-back hour repeats this wall-clock time: fire once
        previous_wall = wall
        slot = moment.timestamp()
        if slot > after:
            yield slot


def fire_time(rule_id: str, slot: float, jitter_s: float) -> float:
    """When a slot fires: ``slot`` plus a delay below ``jitter_s``, the same on every call.

    The delay comes from a hash of (rule, slot), so a restarted orchestrator waits for the
    same moment and two schedules on one slot spread apart.
    """
    if jitter_s <= 0:
        return slot
    digest = hashlib.blake2b(f"{rule_id}:{slot:.3f}".encode(), digest_size=8).digest()
    return slot + jitter_s * (int.from_bytes(digest, "big") / 2**64)


def iso(slot: float, timezone: str = "UTC") -> str:
    """A slot as ISO 8601 text in ``timezone``."""
    zone = ZoneInfo(timezone) if timezone != "UTC" else UTC
    return datetime.fromtimestamp(slot, zone).isoformat()
