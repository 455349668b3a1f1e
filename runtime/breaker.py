"""A per-module circuit breaker consulted by routing.

Libraries such as pybreaker and aiobreaker wrap a call and decide around it; here the
outcome of a robot arrives later and elsewhere (a replica's reply to the orchestrator),
and routing only asks "may this module take a robot now?". So the breaker is a small
state object fed with outcomes, with time passed in for tests.

It judges the module's own code and nothing else. :meth:`CircuitBreaker.record` takes a
success, a retryable failure or a timeout. A robot that ends without a verdict on that
code (its replica died or stopped answering, so supervision replaces the replica and
requeues the robot; it was cancelled; its input was refused for good) goes to
:meth:`CircuitBreaker.release` instead: it neither opens nor closes the breaker, so one
replica crash never stops a module's healthy replicas.
"""

from __future__ import annotations

import time
from collections import deque
from enum import StrEnum


class BreakerState(StrEnum):
    """Closed lets work through, open refuses it, half-open lets one trial through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens on consecutive failures or a high error rate; half-opens after a cool-down.

    ``consecutive_failures`` and ``min_calls`` count outcomes, ``error_rate`` is a share
    (0..1) of the last ``window`` outcomes, ``reset_after_s`` is in seconds. Times passed
    as ``now`` are ``time.monotonic()`` seconds.
    """

    def __init__(
        self,
        consecutive_failures: int = 5,
        error_rate: float = 0.5,
        window: int = 20,
        min_calls: int = 10,
        reset_after_s: float = 10.0,
    ) -> None:
        self.consecutive_limit = consecutive_failures
        self.error_rate_limit = error_rate
        self.min_calls = min_calls
        self.reset_after_s = reset_after_s
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._consecutive = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trial_out = False

    def state(self, now: float | None = None) -> BreakerState:
        """Current state; an open breaker past its cool-down reads as half-open."""
        now = time.monotonic() if now is None else now
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.reset_after_s:
            self._state = BreakerState.HALF_OPEN
            self._trial_out = False
        return self._state

    def allows(self, now: float | None = None) -> bool:
        """Whether routing may send this module a robot now."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._trial_out

    def on_dispatch(self, now: float | None = None) -> None:
        """Note that a robot was sent; in half-open that robot is the single trial."""
        if self.state(now) is BreakerState.HALF_OPEN:
            self._trial_out = True

    def record(self, success: bool, now: float | None = None) -> None:
        """Feed one outcome of the module's code: it succeeded, or failed or timed out."""
        now = time.monotonic() if now is None else now
        state = self.state(now)
        self._outcomes.append(success)
        if success:
            self._consecutive = 0
            if state is BreakerState.HALF_OPEN:
                self._close()
            return
        self._consecutive += 1
        if state is BreakerState.HALF_OPEN or self._tripped():
            self._state = BreakerState.OPEN
            self._opened_at = now
            self._trial_out = False

    def release(self, now: float | None = None) -> None:
        """A robot sent here ended without a verdict on the module's code.

        Its replica was lost, it was cancelled, or its input was refused for good. Nothing
        is counted; in half-open the trial is free again, so the next robot becomes the
        trial instead of the module waiting forever for an outcome that will not come.
        """
        if self.state(now) is BreakerState.HALF_OPEN:
            self._trial_out = False

    def _tripped(self) -> bool:
        if self._consecutive >= self.consecutive_limit:
            return True
        calls = len(self._outcomes)
        failures = calls - sum(self._outcomes)
        return calls >= self.min_calls and failures / calls >= self.error_rate_limit

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._outcomes.clear()
        self._consecutive = 0
        self._trial_out = False
