"""The robot state machine: which transitions exist, what each one writes, and the order.

Every transition is conditional on the robot's ``(id, attempt, status)`` as the caller
last saw it, so a robot reaches a terminal status exactly once even when its code runs
more than once (a lost replica's late answer, a restarted orchestrator). The store
applies a transition to its row; :func:`apply` applies the same transition to a robot
held in memory, so both sides change a robot one way.

::

    queued(n) ──start──▶ running(n) ──succeed──▶ succeeded
       │                    ├──give_up_or_retry──▶ failed | dead | queued(n+1)
       └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.backoff import backoff_delay
from runtime.models import TERMINAL_STATUSES, Robot, RobotStatus, RuleFiring
from runtime.notify.outbox import Delivery

if TYPE_CHECKING:
    from runtime.routing import RouteDecision

__all__ = [
    "ALLOWED",
    "STATUS_RANK",
    "TERMINAL_STATUSES",
    "Transition",
    "apply",
    "cancel",
    "give_up_or_retry",
    "start",
    "status_rank",
    "succeed",
]

S = RobotStatus

ALLOWED: dict[RobotStatus, frozenset[RobotStatus]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.DEAD}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.DEAD, S.QUEUED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DEAD: frozenset(),
}
"""The statuses each status may move to; a terminal status has none."""

# Where a status sits in a robot's life: each applied transition moves ``(attempt, rank)``
# strictly forward (``queued(n) → running(n) → queued(n+1) | terminal``).
STATUS_RANK: dict[RobotStatus, int] = {
    S.QUEUED: 0,
    S.RUNNING: 1,
    S.SUCCEEDED: 2,
    S.FAILED: 2,
    S.CANCELLED: 2,
    S.DEAD: 2,
}


def status_rank(status: RobotStatus | str) -> int:
    """The status's place in the lifecycle: 0 queued, 1 running, 2 terminal.

    Raises ``ValueError`` for a string that is not a status.
    """
    return STATUS_RANK[RobotStatus(status)]


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
    children: list[Robot] = field(default_factory=list)
    """Robots rules submit for this transition: stored in its transaction iff it applies."""
    firings: list[RuleFiring] = field(default_factory=list)
    """Rule firings recorded likewise (a chain step exactly once, however often it runs)."""
    routing: RouteDecision | None = None
    """A start's routing decision: stored with the attempt, never applied to a robot."""
    deliveries: list[Delivery] = field(default_factory=list)
    """Notifications rules fire for this transition: into the outbox in its transaction."""

    def __post_init__(self) -> None:
        if self.to_status not in ALLOWED[self.from_status]:
            raise ValueError(f"no transition {self.from_status} -> {self.to_status}")

    @property
    def attempt_after(self) -> int:
        """The robot's attempt number once this transition has applied."""
        return self.new_attempt if self.new_attempt is not None else self.attempt


def apply(robot: Robot, transition: Transition) -> None:
    """Apply a transition to a robot held in memory, as the store applies it to its row.

    Sets the status, the attempt after the transition, ``updated_at`` and every field the
    transition writes. Raises ``ValueError`` if the robot is not the transition's robot at
    its ``(attempt, from_status)``: an in-memory robot never skips a step.
    """
    if (robot.id, robot.attempt, robot.status) != (
        transition.robot_id,
        transition.attempt,
        transition.from_status,
    ):
        raise ValueError(
            f"robot {robot.id} is {robot.status}({robot.attempt}), not "
            f"{transition.from_status}({transition.attempt}) as the transition expects"
        )
    robot.status = transition.to_status
    robot.attempt = transition.attempt_after
    robot.updated_at = transition.at
    for name, value in transition.fields.items():
        setattr(robot, name, value)


def start(
    robot_id: str,
    attempt: int,
    module: str,
    replica: str,
    routing: RouteDecision | None = None,
) -> Transition:
    """Queued robot handed to a replica, with the routing decision that placed it."""
    now = time.time()
    return Transition(
        robot_id,
        attempt,
        S.QUEUED,
        S.RUNNING,
        fields={"module": module, "replica": replica, "started_at": now},
        at=now,
        routing=routing,
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
