"""The waiting line of one robot type, ordered by priority, then deadline, then age.

The order is total whatever the robots hold: a deadline or creation time that is not a
finite number (a row written before submits were checked) sorts as no deadline or as the
oldest robot, never as a NaN that compares false with everything and scrambles the heap.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Entry:
    key: tuple[int, float, float, int]
    robot_id: str = field(compare=False)
    attempt: int = field(compare=False)
    not_before: float = field(compare=False, default=0.0)


def order_key(
    priority: int, deadline: float | None, created_at: float, seq: int
) -> tuple[int, float, float, int]:
    """The sort key of a waiting robot: higher priority first, then the earlier deadline (none
    sorts last), then the older robot.

    A NaN or infinite deadline counts as none; a creation time that is not finite counts
    as 0 (the oldest). Keys of different robots compare as a strict total order, since
    ``seq`` differs.
    """
    if deadline is not None and not math.isfinite(deadline):
        deadline = None
    if not math.isfinite(created_at):
        created_at = 0.0
    return (-int(priority), math.inf if deadline is None else deadline, created_at, seq)


class RobotQueue:
    """A priority queue of robot ids; robots with a future ``not_before`` wait aside."""

    def __init__(self) -> None:
        self._ready: list[_Entry] = []
        self._delayed: list[tuple[float, _Entry]] = []
        self._seq = itertools.count()
        self._members: dict[str, int] = {}
        self._with_deadline: set[str] = set()

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, robot_id: object) -> bool:
        return robot_id in self._members

    def push(
        self,
        robot_id: str,
        attempt: int,
        priority: int,
        deadline: float | None,
        created_at: float,
        not_before: float = 0.0,
    ) -> None:
        """Add a robot; a robot already waiting keeps its place unless this is a newer attempt."""
        if self._members.get(robot_id, -1) >= attempt:
            return
        self._members[robot_id] = attempt
        entry = _Entry(
            order_key(priority, deadline, created_at, next(self._seq)),
            robot_id,
            attempt,
            not_before,
        )
        if entry.key[1] != math.inf:
            self._with_deadline.add(robot_id)
        if not_before > time.time():
            heapq.heappush(self._delayed, (not_before, entry))
        else:
            heapq.heappush(self._ready, entry)

    def pop(self) -> tuple[str, int] | None:
        """Take the most urgent ready robot as ``(robot_id, attempt)``, or None."""
        self._promote()
        while self._ready:
            entry = heapq.heappop(self._ready)
            if self._members.get(entry.robot_id) == entry.attempt:
                del self._members[entry.robot_id]
                if entry.key[1] != math.inf:
                    self._with_deadline.discard(entry.robot_id)
                return entry.robot_id, entry.attempt
        return None

    def discard(self, robot_id: str) -> bool:
        """Forget a waiting robot (cancelled); its heap entry is skipped lazily."""
        self._with_deadline.discard(robot_id)
        return self._members.pop(robot_id, None) is not None

    def has_deadlines(self) -> bool:
        """Whether some waiting robot carries a deadline."""
        return bool(self._with_deadline)

    def ready_keys(self) -> list[tuple[int, float, float, int]]:
        """The order keys (see :func:`order_key`) of the robots ready to run, unsorted."""
        self._promote()
        return [e.key for e in self._ready if self._members.get(e.robot_id) == e.attempt]

    def ready_count(self) -> int:
        """Robots that could run now (an upper bound: cancelled entries are dropped on pop)."""
        self._promote()
        return len(self._ready)

    def next_ready_at(self) -> float | None:
        """When the earliest delayed robot becomes ready, or None."""
        return self._delayed[0][0] if self._delayed else None

    def _promote(self) -> None:
        now = time.time()
        while self._delayed and self._delayed[0][0] <= now:
            _, entry = heapq.heappop(self._delayed)
            heapq.heappush(self._ready, entry)
