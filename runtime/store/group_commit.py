"""Group commit: concurrent write requests share the next transaction.

Each caller enqueues one operation and awaits its own future. A flusher task takes
everything queued, hands it to the backend as one batch (one transaction), and resolves
each future with that operation's result. Operations that arrive while a commit is under
way wait for the next one, so the number of transactions tracks the database's commit
latency rather than the number of callers. Operations that need no order among themselves
(robot creates) may have several flushers, so one batch's commit does not wait for
another's flush to disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runtime.errors import StoreError

log = logging.getLogger(__name__)

Op = TypeVar("Op")

CommitBatch = Callable[[Sequence[Op]], Awaitable[Sequence[Any]]]


@dataclass(slots=True)
class _Pending(Generic[Op]):
    op: Op
    future: asyncio.Future[Any]


class GroupCommit(Generic[Op]):
    """Batches concurrently submitted operations into one ``commit_batch`` call each.

    ``commit_batch`` writes a sequence of operations in one transaction and returns one
    result per operation, in order. When a batch of several operations fails and
    ``isolate(exc)`` is true, each operation is retried in a transaction of its own so that
    one bad operation cannot fail its neighbours.
    """

    def __init__(
        self,
        commit_batch: CommitBatch[Op],
        *,
        max_batch: int = 512,
        isolate: Callable[[BaseException], bool] = lambda exc: True,
        name: str = "store",
        flushers: int = 1,
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._isolate = isolate
        self._name = name
        self._flushers = flushers
        self._queue: asyncio.Queue[_Pending[Op] | None] = asyncio.Queue()
        self._flusher: list[asyncio.Task[None]] | None = None
        self._closing = False
        self.commits = 0
        """Transactions committed so far."""
        self.operations = 0
        """Operations written so far."""

    def start(self) -> None:
        """Start the flusher tasks on the running event loop."""
        if self._flusher is None:
            self._closing = False
            loop = asyncio.get_running_loop()
            self._flusher = [
                loop.create_task(self._run(), name=f"{self._name}-group-commit-{i}")
                for i in range(self._flushers)
            ]

    async def submit(self, op: Op) -> Any:
        """Queue ``op`` for the next transaction and return its result once committed."""
        if self._flusher is None or self._closing:
            raise StoreError(f"{self._name} store is not open")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(op, future))
        return await future

    async def close(self) -> None:
        """Write everything already queued, then stop the flushers."""
        if self._flusher is None:
            return
        self._closing = True
        for _ in range(self._flushers):
            self._queue.put_nowait(None)  # each flusher stops at one, after what came before
        try:
            results = await asyncio.gather(*self._flusher, return_exceptions=True)
        finally:
            self._flusher = None
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def _run(self) -> None:
        while True:
            batch: list[_Pending[Op]] = []
            stop = False
            item = await self._queue.get()
            while True:
                if item is None:
                    stop = True
                    break
                if not item.future.done():
                    batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                try:
                    await self._write(batch)
                except BaseException as exc:  # no caller may wait forever on its write
                    for pending in batch:
                        _settle(pending.future, exc=StoreError(f"{self._name}: write lost"))
                    if not isinstance(exc, Exception):
                        raise
                    log.exception("%s: group commit flusher failed a batch", self._name)
            if stop:
                return

    async def _write(self, batch: list[_Pending[Op]]) -> None:
        try:
            results = await self._commit_batch([p.op for p in batch])
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                log.warning(
                    "%s: batch of %d failed (%s); retrying one by one", self._name, len(batch), exc
                )
                for pending in batch:
                    await self._write([pending])
                return
            for pending in batch:
                _settle(pending.future, exc=exc)
            return
        if len(results) != len(batch):
            error = StoreError(f"{self._name}: {len(results)} results for {len(batch)} writes")
            for pending in batch:
                _settle(pending.future, exc=error)
            return
        self.commits += 1
        self.operations += len(batch)
        for pending, result in zip(batch, results, strict=True):
            _settle(pending.future, result=result)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
