"""Ordered, batched writing of robot transitions from the orchestrator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runtime.errors import StoreUnavailable
from runtime.lifecycle import Transition
from runtime.store.base import RobotStore

if TYPE_CHECKING:
    from actors.cache_sync import RobotStatusSync

log = logging.getLogger(__name__)


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
        self.commits = 0
        self._retry_delay = 0.05

    def start(self) -> None:
        """Start the flusher task."""
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        if self._task is not None:
            while self._pending:
                await asyncio.sleep(0.01)
            self._task.cancel()

    def write(self, transitions: Sequence[Transition]) -> asyncio.Future[list[bool]]:
        """Queue transitions; the returned future resolves to whether each applied, in order.

        The future raises what the store raised if the write failed for good; an unavailable
        store is retried with a backoff and keeps the order.
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
            flat = [t for transitions, _ in batch for t in transitions]
            if self.status_sync is not None:
                await self.status_sync.before_commit(flat)
            try:
                applied = await self.store.apply(flat)
                self.commits += 1
                self._retry_delay = 0.05
            except StoreUnavailable:
                log.warning(
                    "store unavailable; keeping %d transitions, retrying in %.2fs",
                    len(flat),
                    self._retry_delay,
                )
                self._pending[:0] = batch
                await asyncio.sleep(self._retry_delay)
                self._retry_delay = min(self._retry_delay * 2, 5.0)
                self._has_work.set()
                continue
            except Exception as exc:
                log.exception("writing %d transitions failed", len(flat))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                if self.status_sync is not None:
                    self.status_sync.after_commit()
            offset = 0
            for transitions, future in batch:
                if not future.done():
                    future.set_result(applied[offset : offset + len(transitions)])
                offset += len(transitions)
