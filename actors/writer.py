"""Ordered, batched writing of robot transitions from the orchestrator.

No transition is dropped. While the store is unavailable the store keeps each batch and
commits it once the store is back (it logs the outage once). A transition the store cannot
hold (a result too deep to encode, a text the database refuses) is isolated by the store;
the writer then records its robot ``failed`` (``dead`` if it was queued) with the reason,
so the robot ends instead of staying ``running`` and the robots of its batch commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from runtime.errors import StoreDataError
from runtime.lifecycle import Transition
from runtime.models import RobotStatus
from runtime.store.base import RobotStore

if TYPE_CHECKING:
    from actors.cache_sync import RobotStatusSync

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0
"""How long ``stop`` waits for pending transitions; what is left is rebuilt on restart."""
MAX_REASON = 500


def unstorable(transition: Transition, exc: StoreDataError) -> Transition:
    """What to record instead of a transition the store cannot hold: its robot ends, with why.

    A running robot becomes ``failed``, a queued one ``dead``, at the same ``(attempt,
    from_status)`` as ``transition``, so it applies only where that transition would have.
    """
    now = time.time()
    reason = f"robofleet could not record this robot as {transition.to_status}: {exc}"
    ended = (
        RobotStatus.FAILED if transition.from_status is RobotStatus.RUNNING else RobotStatus.DEAD
    )
    return Transition(
        transition.robot_id,
        transition.attempt,
        transition.from_status,
        ended,
        fields={"error": reason[:MAX_REASON], "finished_at": now},
        at=now,
    )


class TransitionWriter:
    """Queues transitions and applies them in arrival order, many per store call.

    Order matters: a robot's ``start`` must reach the store before its ``succeed``, and a
    requeue before the next attempt's ``start``; one flusher writing batches in order
    guarantees it while letting any number of concurrent robots share a commit.

    With a ``status_sync``, the cache is told before each commit which robots are about to
    change and after it that the commit is done: one cache call each per batch.
    """

    def __init__(self, store: RobotStore, status_sync: RobotStatusSync | None = None) -> None:
        self.store = store
        self.status_sync = status_sync
        self._pending: list[tuple[Sequence[Transition], asyncio.Future[list[bool]]]] = []
        self._has_work = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushing = False
        self.after_deliveries: Callable[[], None] | None = None
        """Called after a commit that stored outbox deliveries (the notifier's nudge)."""
        self.commits = 0
        self.replaced = 0
        """Transitions the store could not hold, recorded as their robot's failure instead."""

    def start(self) -> None:
        """Start the flusher task."""
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def stop(self) -> None:
        """Write what is pending (for ``STOP_WAIT_S`` at most), then stop."""
        if self._task is None:
            return
        deadline = time.monotonic() + STOP_WAIT_S
        while (self._pending or self._flushing) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        left = sum(len(transitions) for transitions, _ in self._pending)
        if left or self._flushing:
            log.warning(
                "stopping with %d transitions unwritten; a restart rebuilds them from the store",
                left,
            )
        self._task.cancel()
        self._task = None

    def write(self, transitions: Sequence[Transition]) -> asyncio.Future[list[bool]]:
        """Queue transitions; the returned future resolves to whether each applied, in order.

        A transition the store cannot hold is replaced by :func:`unstorable` and its slot
        says whether that applied. An unavailable store is waited for, keeping the order;
        the future raises only on a failure of the whole write that is neither (a bug).
        """
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._pending.append((transitions, future))
        self._has_work.set()
        return future

    async def _flush_loop(self) -> None:
        while True:
            await self._has_work.wait()
            self._has_work.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            flat = [t for transitions, _ in batch for t in transitions]
            self._flushing = True
            try:
                if self.status_sync is not None:
                    await self.status_sync.before_commit(flat)
                try:
                    applied = await self._apply(flat)
                    self.commits += 1
                except Exception as exc:
                    log.exception("writing %d transitions failed", len(flat))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    if self.status_sync is not None:
                        self.status_sync.after_commit()
            finally:
                self._flushing = False
            self._nudge(flat, applied)
            offset = 0
            for transitions, future in batch:
                if not future.done():
                    future.set_result(applied[offset : offset + len(transitions)])
                offset += len(transitions)

    def _nudge(self, flat: list[Transition], applied: list[bool]) -> None:
        """Tell ``after_deliveries`` that the outbox has new rows, if a commit wrote some."""
        if self.after_deliveries is None:
            return
        if any(t.deliveries and ok for t, ok in zip(flat, applied, strict=False)):
            try:
                self.after_deliveries()
            except Exception:  # the notifier's poll finds them anyway
                log.exception("nudging the notifier failed")

    async def _apply(self, flat: list[Transition]) -> list[bool]:
        """Apply transitions; replace each one the store cannot hold and apply that instead."""
        results = await self.store.apply(flat)
        refused = [i for i, result in enumerate(results) if isinstance(result, StoreDataError)]
        if not refused:
            return [bool(result) for result in results]
        replacements = []
        for i in refused:
            error = results[i]
            assert isinstance(error, StoreDataError)
            log.warning(
                "robot %s: its %s cannot be stored (%s); recording it %s",
                flat[i].robot_id,
                flat[i].to_status,
                error,
                "failed" if flat[i].from_status is RobotStatus.RUNNING else "dead",
            )
            replacements.append(unstorable(flat[i], error))
            # Its chain steps go with it: the robot did not end the way they depend on.
            flat[i].children = []
            flat[i].firings = []
        self.replaced += len(refused)
        for i, result in zip(refused, await self.store.apply(replacements), strict=True):
            if isinstance(result, StoreDataError):
                log.error(
                    "robot %s: not even its failure can be stored: %s", flat[i].robot_id, result
                )
            results[i] = result if isinstance(result, bool) else False
        return [bool(result) for result in results]
