"""Micro-batching of submits: many concurrent requests share one orchestrator call."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from runtime.messages import SubmitAnswer, SubmitRequest
from runtime.tasks import BackgroundTasks

Send = Callable[[list[SubmitRequest]], Awaitable[list[SubmitAnswer]]]
"""The orchestrator call: one answer per request, in order."""
Waiting = tuple[SubmitRequest, asyncio.Future[SubmitAnswer]]


CROWD_DECAY = 0.01  # per submit: the crowd estimate halves in about 70 submits once it shrinks


class SubmitBatcher:
    """Sends at once when idle; while a call is in flight, later submits pile up and go together.

    One robot alone pays one actor call. Under load a call carries up to ``max_batch``
    robots; a second call may overlap the first once enough robots wait, so the
    orchestrator works on one batch while the next is on its way, and a call never goes
    out with only the first few robots of a wave (which would make every batch small).
    "Enough" is ``min_overlap``, or fewer when fewer clients submit at once: the batcher
    follows the crowd (the most robots it held at once, forgotten slowly) and lets a call
    overlap once a share of it waits, so 16 clients make two waves of 8 instead of one
    wave that waits out every call. Robots that wait ``max_wait_s`` behind a slow call go
    in a second call however few.
    """

    def __init__(
        self,
        send: Send,
        max_batch: int = 256,
        max_in_flight: int = 2,
        min_overlap: int = 32,
        max_wait_s: float = 0.02,
    ) -> None:
        self._send = send
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.min_overlap = min_overlap
        self.max_wait_s = max_wait_s
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # when the oldest robot still pending began to wait
        self._pending: list[Waiting] = []
        self._in_flight = 0
        self._in_flight_robots = 0
        # Start by assuming a crowd big enough for min_overlap; shrink toward what is seen.
        self._crowd = float(min_overlap * max_in_flight)
        self._flushes = BackgroundTasks("submit batcher")
        self.calls = 0

    @property
    def waiting(self) -> int:
        """Robots waiting for an orchestrator call or inside one now."""
        return len(self._pending) + self._in_flight_robots

    async def submit(self, request: SubmitRequest) -> SubmitAnswer:
        """Hand one robot to the orchestrator and return its answer.

        Raises what the orchestrator call raised; a refusal of this robot alone comes back
        in ``SubmitAnswer.error``.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SubmitAnswer] = loop.create_future()
        if not self._pending:
            self._waiting_since = loop.time()
        self._pending.append((request, future))
        held = len(self._pending) + self._in_flight_robots
        # Up at once, down slowly: a crowd that just sent a wave still counts as a crowd.
        self._crowd = max(float(held), self._crowd - (self._crowd - held) * CROWD_DECAY)
        self._kick()
        return await future

    def _may_send(self) -> bool:
        if not self._pending:
            return False
        if self._in_flight == 0:
            return True
        return self._in_flight < self.max_in_flight and len(self._pending) >= self.overlap_at()

    def overlap_at(self) -> int:
        """How many robots must wait before a call may overlap the one in flight."""
        share = math.ceil(self._crowd / self.max_in_flight)
        return max(1, min(self.min_overlap, share))

    def _kick(self) -> None:
        while self._may_send():
            self._send_batch()
        if self._pending and self._timer is None:
            loop = asyncio.get_running_loop()
            due = self._waiting_since + self.max_wait_s
            self._timer = loop.call_at(due, self._overdue)

    def _overdue(self) -> None:
        self._timer = None
        if not self._pending:
            return
        if asyncio.get_running_loop().time() < self._waiting_since + self.max_wait_s:
            self._kick()  # what waited longest has gone; wait for what is left
        elif self._in_flight < self.max_in_flight:
            self._send_batch()
            self._kick()
        # else every call is in flight: the first to return sends what waits

    def _send_batch(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._waiting_since = asyncio.get_running_loop().time()  # for what is left, if any
        self._in_flight += 1
        self._in_flight_robots += len(batch)
        self._flushes.spawn(self._flush(batch))

    async def _flush(self, batch: list[Waiting]) -> None:
        try:
            self.calls += 1
            answers = await self._send([request for request, _ in batch])
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._in_flight -= 1
            self._in_flight_robots -= len(batch)
            self._kick()
