"""Which backups to keep: the newest of each of the last N days and M weeks (UTC), the
newest backup of all, and always the newest verified one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class BackupStamp:
    """What retention needs to know of a backup: its id, when it began, whether it is verified."""

    id: str
    created_at: float
    verified: bool


def to_keep(
    backups: Sequence[BackupStamp], keep_daily: int, keep_weekly: int
) -> set[str]:
    """Ids of the backups to keep; every other backup may be deleted.

    Kept: the newest backup of each of the ``keep_daily`` newest UTC days that have one, of
    each of the ``keep_weekly`` newest ISO weeks that have one, the newest backup, and the
    newest verified backup (so there is always a proven one to restore).
    """
    newest_first = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    keep: set[str] = set()
    if newest_first:
        keep.add(newest_first[0].id)
    days: list[str] = []
    weeks: list[tuple[int, int]] = []
    for backup in newest_first:
        moment = datetime.fromtimestamp(backup.created_at, UTC)
        day = moment.strftime("%Y-%m-%d")
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(backup.id)
        week = moment.isocalendar()[:2]
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(backup.id)
    verified = [b for b in newest_first if b.verified]
    if verified:
        keep.add(verified[0].id)
    return keep
