"""Group commit: concurrent write requests share the next transaction.

Each caller enqueues one operation and awaits its own future. A flusher task takes
everything queued, hands it to the backend as one batch (one transaction), and resolves
each future with that operation's result. Operations that arrive while a commit is under
way wait for the next one, so the number of transactions tracks the database's commit
latency rather than the number of callers. Operations that need no order among themselves
(robot creates) may have several flushers, so one batch's commit does not wait for
another's flush to disk.

What a failed batch leads to depends on the kind of the failure (``runtime.store._errors``):

- the store is unavailable: the batch is kept and committed again, with a backoff, until the
  store is back; an operation submitted with ``wait_unavailable_s`` leaves the batch once it
  has waited that long, and its caller gets the :class:`StoreUnavailable`;
- the store became unavailable after the batch's write went out (the commit function says so
  with :class:`CommitInDoubt`): the batch may have committed, so none of its callers is told
  "unavailable" before ``in_doubt_wait_s`` has passed, whatever its own wait; it is committed
  again once the store answers, so such a commit must be safe to repeat;
- a conflict (deadlock, serialization failure): committed again at once, a few times;
- anything else (a value the store cannot hold, a bug): each operation is committed in a
  transaction of its own, so only the operation at fault fails and its neighbours commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runtime.errors import StoreConflict, StoreError, StoreUnavailable
from runtime.store._errors import StoreErrors

log = logging.getLogger(__name__)

Op = TypeVar("Op")

CommitBatch = Callable[[Sequence[Op]], Awaitable[Sequence[Any]]]

CONFLICT_RETRIES = 3
"""Times a batch that lost a race is committed again before its operations are isolated."""
CLOSE_WAIT_S = 5.0
"""How long ``close`` keeps retrying writes against an unavailable store before failing them."""
IN_DOUBT_WAIT_S = 60.0
"""How long a batch that may have committed waits for an unavailable store before failing."""


class CommitInDoubt(Exception):
    """Raised by a commit function when its batch may have committed: ``cause`` cut it off.

    A signal between a store's commit function and :class:`GroupCommit`, never raised to a
    caller: the group commit classes ``cause`` as usual, and while the store is unavailable
    keeps the batch for ``in_doubt_wait_s`` at least (see the module docstring).
    """

    def __init__(self, cause: Exception) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(slots=True)
class _Pending(Generic[Op]):
    op: Op
    future: asyncio.Future[Any]
    give_up_at: float | None = None
    """``time.monotonic()`` past which an unavailable store fails this operation (None: never)."""
    sent: bool = False
    """Taken into a batch: from then on that batch's commit decides its fate."""


class GroupCommit(Generic[Op]):
    """Batches concurrently submitted operations into one ``commit_batch`` call each.

    ``commit_batch`` writes a sequence of operations in one transaction and returns one
    result per operation, in order; it may raise driver errors, which ``errors`` classes.
    ``retry_delay_s`` is the first and the longest pause between two attempts against an
    unavailable store, in seconds; ``in_doubt_wait_s`` how long a batch whose commit raised
    :class:`CommitInDoubt` waits for it at least.
    """

    def __init__(
        self,
        commit_batch: CommitBatch[Op],
        *,
        errors: StoreErrors | None = None,
        max_batch: int = 512,
        name: str = "store",
        flushers: int = 1,
        retry_delay_s: tuple[float, float] = (0.05, 2.0),
        in_doubt_wait_s: float = IN_DOUBT_WAIT_S,
    ) -> None:
        self._commit_batch = commit_batch
        self._errors = errors if errors is not None else StoreErrors(name)
        self._max_batch = max_batch
        self._name = name
        self._flushers = flushers
        self._retry_delay_s = retry_delay_s
        self._in_doubt_wait_s = in_doubt_wait_s
        self._queue: asyncio.Queue[_Pending[Op] | None] = asyncio.Queue()
        self._flusher: list[asyncio.Task[None]] | None = None
        self._closing_since: float | None = None
        self._unavailable: StoreUnavailable | None = None  # the last batch's, until one commits
        self.commits = 0
        """Transactions committed so far."""
        self.operations = 0
        """Operations written so far."""
        self.isolated = 0
        """Operations that failed alone after their batch was split."""

    def start(self) -> None:
        """Start the flusher tasks on the running event loop."""
        if self._flusher is None:
            self._closing_since = None
            loop = asyncio.get_running_loop()
            self._flusher = [
                loop.create_task(self._run(), name=f"{self._name}-group-commit-{i}")
                for i in range(self._flushers)
            ]

    async def submit(self, op: Op, wait_unavailable_s: float | None = None) -> Any:
        """Queue ``op`` for the next transaction and return its result once committed.

        Against an unavailable store ``op`` waits until it is back, or for
        ``wait_unavailable_s`` seconds at most (0: fail at the first try). Raises the
        :class:`StoreError` (or the exception of a bug) that failed ``op`` itself, never
        one of another operation of its batch.
        """
        if self._flusher is None or self._closing_since is not None:
            raise StoreError(f"{self._name} store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if wait_unavailable_s is None:
            self._queue.put_nowait(_Pending(op, future))
            return await future
        pending = _Pending(op, future, time.monotonic() + wait_unavailable_s)
        self._queue.put_nowait(pending)
        wait_s = wait_unavailable_s
        while True:
            # Queued behind batches that wait for the store, it would never reach a commit
            # that could fail it: its wait is enforced here too.
            try:
                done, _ = await asyncio.wait([future], timeout=wait_s)
            except asyncio.CancelledError:
                future.cancel()  # as awaiting it would: a queued operation is then skipped
                raise
            if done:
                return future.result()
            if not pending.sent and self._unavailable is not None:
                _settle(future, exc=self._unavailable)
                return future.result()
            wait_s = max(0.05, self._retry_delay_s[0])

    async def close(self) -> None:
        """Write everything already queued, then stop the flushers.

        Against an unavailable store, queued writes are retried for ``CLOSE_WAIT_S`` more
        seconds (a batch in doubt until its in-doubt wait is over) and then failed with
        :class:`StoreUnavailable`.
        """
        if self._flusher is None:
            return
        self._closing_since = time.monotonic()
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
                    item.sent = True
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
        delay, longest = self._retry_delay_s
        conflicts = 0
        in_doubt_until: float | None = None
        while True:
            try:
                with self._errors.translated():
                    try:
                        results = await self._commit_batch([p.op for p in batch])
                    except CommitInDoubt as doubt:
                        if in_doubt_until is None:
                            in_doubt_until = time.monotonic() + self._in_doubt_wait_s
                        raise doubt.cause from None  # the driver error, for translated() to class
            except StoreUnavailable as exc:
                self._unavailable = exc
                batch = self._still_waiting(batch, exc, in_doubt_until)
                if not batch:
                    return
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, longest)
                continue
            except StoreConflict as exc:
                conflicts += 1
                if conflicts <= CONFLICT_RETRIES:
                    log.info("%s: batch of %d lost a race (%s); again", self._name, len(batch), exc)
                    await asyncio.sleep(0.01 * random.random())
                    continue
                self._isolate_or_fail(batch, exc)
                if len(batch) > 1:
                    await self._one_by_one(batch)
                return
            except Exception as exc:  # a value the store cannot hold, or a bug
                self._isolate_or_fail(batch, exc)
                if len(batch) > 1:
                    await self._one_by_one(batch)
                return
            break
        if len(results) != len(batch):
            error = StoreError(f"{self._name}: {len(results)} results for {len(batch)} writes")
            for pending in batch:
                _settle(pending.future, exc=error)
            return
        self._unavailable = None
        self.commits += 1
        self.operations += len(batch)
        for pending, result in zip(batch, results, strict=True):
            _settle(pending.future, result=result)

    def _isolate_or_fail(self, batch: list[_Pending[Op]], exc: Exception) -> None:
        if len(batch) > 1:
            log.info(
                "%s: batch of %d failed (%s); writing each on its own", self._name, len(batch), exc
            )
            return
        self.isolated += 1
        _settle(batch[0].future, exc=exc)

    async def _one_by_one(self, batch: list[_Pending[Op]]) -> None:
        for pending in batch:
            await self._write([pending])

    def _still_waiting(
        self, batch: list[_Pending[Op]], exc: StoreUnavailable, in_doubt_until: float | None
    ) -> list[_Pending[Op]]:
        """Fail the operations of a batch that waited long enough; return the others."""
        now = time.monotonic()
        if in_doubt_until is not None and now < in_doubt_until:
            return batch  # it may have committed: no caller is told otherwise yet
        closed = self._closing_since is not None and now - self._closing_since > CLOSE_WAIT_S
        waiting = []
        for pending in batch:
            if closed or (pending.give_up_at is not None and now >= pending.give_up_at):
                _settle(pending.future, exc=exc)
            else:
                waiting.append(pending)
        return waiting


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
