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

OrderKey = tuple[int, float, float, int]
"""``(-priority, deadline or inf, created_at, seq)``: see :func:`order_key`."""

_Entry = tuple[int, float, float, int, str, int]
"""An order key followed by ``robot_id, attempt``.

A plain tuple: the heaps compare entries in C, where a dataclass's ``__lt__`` builds two
tuples per comparison in Python (a pop at 300,000 queued robots makes about 18 of them).
The keys of two entries never tie (``seq``), so the fields after the key never compare.
"""


def order_key(priority: int, deadline: float | None, created_at: float, seq: int) -> OrderKey:
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
        entry = (*order_key(priority, deadline, created_at, next(self._seq)), robot_id, attempt)
        if entry[1] != math.inf:
            self._with_deadline.add(robot_id)
        if not_before > time.time():
            heapq.heappush(self._delayed, (not_before, entry))
        else:
            heapq.heappush(self._ready, entry)

    def pop(self) -> tuple[str, int] | None:
        """Take the most urgent ready robot as ``(robot_id, attempt)``, or None."""
        self._promote()
        while self._ready:
            _, deadline, _, _, robot_id, attempt = heapq.heappop(self._ready)
            if self._members.get(robot_id) == attempt:
                del self._members[robot_id]
                if deadline != math.inf:
                    self._with_deadline.discard(robot_id)
                return robot_id, attempt
        return None

    def discard(self, robot_id: str) -> bool:
        """Forget a waiting robot (cancelled); its heap entry is skipped lazily."""
        self._with_deadline.discard(robot_id)
        return self._members.pop(robot_id, None) is not None

    def has_deadlines(self) -> bool:
        """Whether some waiting robot carries a deadline."""
        return bool(self._with_deadline)

    def first_keys(self, n: int) -> list[OrderKey]:
        """The order keys (see :func:`order_key`) of the ``n`` most urgent ready robots, in
        dispatch order.

        Walks the heap from its root, so it costs O(n log n) whatever the queue's length
        (stale entries of discarded robots or older attempts are stepped over, not counted).
        """
        self._promote()
        heap, members = self._ready, self._members
        keys: list[OrderKey] = []
        frontier = [(heap[0], 0)] if heap else []
        while frontier and len(keys) < n:
            entry, index = heapq.heappop(frontier)
            if members.get(entry[4]) == entry[5]:  # robot id, attempt
                keys.append(entry[:4])
            for child in (2 * index + 1, 2 * index + 2):
                if child < len(heap):
                    heapq.heappush(frontier, (heap[child], child))
        return keys

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
