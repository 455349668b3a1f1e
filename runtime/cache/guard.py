"""When may a reader's cache-aside fill of robot state land? The freshness protocol.

The orchestrator records transitions through one writer. Before each store commit it
*marks* the robots it is about to change with their new versions (:func:`robot_version`);
a marked robot misses, so readers go to the store. A reader that missed reads the store and
offers what it read back as a *fill*, carrying the version of the row and the *token* it got
with the miss. A fill lands only if:

* the token is from this cache incarnation and gate generation, and is at most
  ``fill_window_s`` old (a fill that took longer could predate marks we no longer remember);
* no mark or entry newer than the fill's version is known for the robot: marks are kept in
  the entry itself and, for ``mark_memory_s``, in a side table that survives LRU eviction.

So a fill read before a commit carries the old version and loses against the mark; one read
after it carries the new version and lands. Robot state is served only while the *gate* is
open: a new incarnation starts closed (a Redis tier may hold states committed while no cache
could be marked) and opens when the orchestrator's writer syncs the marks it could not
deliver, or asks for a reset.

The first page of the robot list uses an epoch instead: every mark round and every commit
bumps it, lists are not served while a commit is under way, and a list fill lands only when
no bump happened since its miss.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from runtime.messages import FillToken


class FillGuard:
    """The incarnation, gate, recent marks and list epoch of one cache actor."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        fill_window_s: float = 5.0,
        mark_memory_s: float = 30.0,
        max_marks: int = 500_000,
        list_pending_max_s: float = 10.0,
    ) -> None:
        self.incarnation = uuid.uuid4().hex[:12]
        self._clock = clock
        self.fill_window_s = fill_window_s
        self.mark_memory_s = max(mark_memory_s, fill_window_s)
        self.max_marks = max_marks
        self.gate_open = False
        self.gate_generation = 0
        self._marks: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._floor = -float("inf")
        self.list_epoch = 0
        self._list_pending = 0
        self._list_pending_since = 0.0
        self._list_pending_max_s = list_pending_max_s

    # -- robots --------------------------------------------------------------------------

    def token(self) -> FillToken | None:
        """What a miss hands the reader for its fill; None while robot state is not served."""
        if not self.gate_open:
            return None
        return FillToken(self.incarnation, self.gate_generation, self._clock(), self.list_epoch)

    def note_mark(self, robot_id: str, version: int) -> None:
        """Remember that ``robot_id`` is about to reach ``version``."""
        now = self._clock()
        previous = self._marks.pop(robot_id, None)
        if previous is not None:
            version = max(version, previous[0])
        self._marks[robot_id] = (version, now)
        self._forget_old(now)

    def admits(self, token: FillToken | None, robot_id: str, version: int) -> bool:
        """Whether a fill of ``robot_id`` at ``version``, read after the miss, may land."""
        if not self._token_current(token):
            return False
        assert token is not None
        if token.missed_at <= self._floor:
            return False
        mark = self._marks.get(robot_id)
        return mark is None or mark[0] <= version

    def open_gate(self, reset: bool) -> None:
        """The writer has delivered every mark it owed: serve robot state again.

        With ``reset`` the caller has also dropped every robot entry (the writer lost track
        of what it owed), so fills of earlier generations are refused from now on.
        """
        if reset or not self.gate_open:
            self.gate_generation += 1
        self.gate_open = True

    def _token_current(self, token: FillToken | None) -> bool:
        return (
            token is not None
            and self.gate_open
            and token.incarnation == self.incarnation
            and token.generation == self.gate_generation
            and self._clock() - token.missed_at <= self.fill_window_s
        )

    def _forget_old(self, now: float) -> None:
        horizon = now - self.mark_memory_s
        while self._marks:
            robot_id, (_, at) = next(iter(self._marks.items()))
            if at > horizon and len(self._marks) <= self.max_marks:
                break
            del self._marks[robot_id]
            # A fill whose miss came before a forgotten mark could be older than it.
            self._floor = max(self._floor, at)

    # -- lists ---------------------------------------------------------------------------

    def lists_changing(self) -> None:
        """A commit that may change list pages is about to happen."""
        self.list_epoch += 1
        if self._list_pending == 0:
            self._list_pending_since = self._clock()
        self._list_pending += 1

    def lists_changed(self, settled: bool) -> None:
        """Robots were created (``settled=False``) or a commit announced earlier finished."""
        self.list_epoch += 1
        if settled and self._list_pending > 0:
            self._list_pending -= 1

    def lists_served(self) -> bool:
        """Whether list pages may be served and filled now."""
        if not self.gate_open:
            return False
        stuck_s = self._clock() - self._list_pending_since
        if self._list_pending and stuck_s > self._list_pending_max_s:
            self._list_pending = 0  # a lost "changed" message must not disable lists forever
        return self._list_pending == 0

    def admits_list(self, token: FillToken | None) -> bool:
        """Whether a list page read after the miss that handed out ``token`` may land."""
        return (
            self._token_current(token)
            and self.lists_served()
            and token is not None
            and token.list_epoch == self.list_epoch
        )
