"""The robot state machine: which transitions exist and what each one writes.

Every transition is conditional on the robot's ``(id, attempt, status)`` as the caller
last saw it, so a robot reaches a terminal status exactly once even when its code runs
more than once (a lost replica's late answer, a restarted orchestrator).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from runtime.backoff import backoff_delay
from runtime.models import RobotStatus

S = RobotStatus

ALLOWED: dict[RobotStatus, frozenset[RobotStatus]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.DEAD}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.DEAD, S.QUEUED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DEAD: frozenset(),
}


@dataclass(slots=True)
class Transition:
    """A conditional update: applies only if the robot is still at ``(attempt, from_status)``."""

    robot_id: str
    attempt: int
    from_status: RobotStatus
    to_status: RobotStatus
    new_attempt: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.to_status not in ALLOWED[self.from_status]:
            raise ValueError(f"no transition {self.from_status} -> {self.to_status}")

    @property
    def attempt_after(self) -> int:
        """The robot's attempt number once this transition has applied."""
        return self.new_attempt if self.new_attempt is not None else self.attempt


def start(robot_id: str, attempt: int, module: str, replica: str) -> Transition:
    """Queued robot handed to a replica."""
    now = time.time()
    return Transition(
        robot_id,
        attempt,
        S.QUEUED,
        S.RUNNING,
        fields={"module": module, "replica": replica, "started_at": now},
        at=now,
    )


def succeed(robot_id: str, attempt: int, result: Any) -> Transition:
    """Running robot whose module returned a result."""
    now = time.time()
    return Transition(
        robot_id,
        attempt,
        S.RUNNING,
        S.SUCCEEDED,
        fields={
            "result": result,
            "error": None,
            "progress": 1.0,
            "message": None,
            "finished_at": now,
        },
        at=now,
    )


def cancel(robot_id: str, attempt: int, from_status: RobotStatus, reason: str) -> Transition:
    """Queued or running robot cancelled by a client or its module."""
    now = time.time()
    return Transition(
        robot_id,
        attempt,
        from_status,
        S.CANCELLED,
        fields={"error": reason, "finished_at": now},
        at=now,
    )


def give_up_or_retry(
    robot_id: str,
    attempt: int,
    max_attempts: int,
    error: str,
    *,
    retryable: bool,
    from_status: RobotStatus = S.RUNNING,
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    backoff: bool = True,
) -> Transition:
    """Decide what a failed attempt leads to.

    A non-retryable failure fails the robot at once. A retryable one requeues it with
    ``attempt + 1`` after an exponential backoff with jitter, until ``max_attempts`` is
    spent; then the robot is ``dead`` with the last reason. Replica loss passes
    ``backoff=False``: the robot did nothing wrong, it goes straight back in line.
    """
    now = time.time()
    if not retryable:
        return Transition(
            robot_id,
            attempt,
            from_status,
            S.FAILED,
            fields={"error": error, "finished_at": now},
            at=now,
        )
    if attempt >= max_attempts:
        reason = f"gave up after {attempt} attempt(s): {error}"
        return Transition(
            robot_id,
            attempt,
            from_status,
            S.DEAD,
            fields={"error": reason, "finished_at": now},
            at=now,
        )
    delay = backoff_delay(attempt, base_delay_s, max_delay_s) if backoff else 0.0
    return Transition(
        robot_id,
        attempt,
        from_status,
        S.QUEUED,
        new_attempt=attempt + 1,
        fields={"error": error, "not_before": now + delay, "replica": None, "progress": 0.0},
        at=now,
    )
