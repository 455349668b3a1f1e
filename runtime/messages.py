"""The typed messages actors exchange: one class per kind, nothing crosses as a bare dict.

Ray pickles arguments and return values, so every message is a slotted dataclass (cheap to
pickle, checked by mypy at both ends). A unit test round-trips each one through
``ray.cloudpickle``. Payloads and results stay ``dict``/``Any`` inside a message: they are
the user's data, not the runtime's protocol.

::

    gateway ──SubmitRequest──▶ orchestrator ──SubmitAnswer──▶ gateway
    orchestrator ──Dispatch──▶ replica ──Outcome──▶ orchestrator
    replica ──Progress──▶ orchestrator
    orchestrator ──ModuleInfo / CancelAnswer──▶ gateway, CLI
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runtime.errors import RobofleetError
from runtime.models import ModuleInfo, ReplicaInfo, Robot, RobotStatus

__all__ = [
    "AuditCaller",
    "CancelAnswer",
    "Dispatch",
    "DocumentAnswer",
    "ModuleInfo",
    "OrchestratorStats",
    "Outcome",
    "OutcomeKind",
    "Progress",
    "ReplicaInfo",
    "ReplicaPing",
    "SubmitAnswer",
    "SubmitRequest",
]


@dataclass(slots=True, frozen=True)
class AuditCaller:
    """Who asked for a robot, for the audit entry the store writes along with it."""

    request_id: str
    actor: str
    client: str | None
    action: str


@dataclass(slots=True)
class SubmitRequest:
    """Gateway → orchestrator: one robot, validated once and given its id by the gateway.

    The id is chosen before the call so a call retried after an orchestrator restart cannot
    create the robot twice. ``audit`` is set when the gateway wants the store to write the
    robot's ``202`` audit entry in the same commit.
    """

    robot: Robot
    audit: AuditCaller | None = None


@dataclass(slots=True)
class SubmitAnswer:
    """Orchestrator → gateway: what became of one :class:`SubmitRequest`.

    ``error`` is set (and the other fields describe nothing) when the robot was refused:
    an ``UnknownRobotType`` or ``QueueFull`` the gateway raises at its boundary. A batch
    call answers per robot, so one refusal never fails the robots it travelled with.
    """

    id: str
    status: RobotStatus = RobotStatus.QUEUED
    created: bool = True
    same_request: bool = True
    audited: bool = False
    error: RobofleetError | None = None


@dataclass(slots=True)
class Dispatch:
    """Orchestrator → replica: robots to run now, each already marked running."""

    robots: list[Robot]


class OutcomeKind(StrEnum):
    """How one attempt ended on its replica."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the module raised; ``retryable`` says whether to try again
    TIMED_OUT = "timed_out"  # ran past the robot's ``timeout_s``; always retryable
    CANCELLED = "cancelled"  # stopped by request through ``ctx.cancelled``


@dataclass(slots=True)
class Outcome:
    """Replica → orchestrator: the end of one attempt, returned as the value of the run call.

    ``seconds`` is wall time on the replica from start to end of the attempt.
    """

    robot_id: str
    attempt: int
    kind: OutcomeKind
    seconds: float
    result: Any = None
    error: str | None = None
    retryable: bool = True


@dataclass(slots=True)
class Progress:
    """Replica → orchestrator → store: the latest progress of one running attempt.

    ``fraction`` is 0.0-1.0; replicas coalesce reports so only the newest one travels.
    """

    robot_id: str
    attempt: int
    fraction: float
    message: str | None = None


@dataclass(slots=True)
class CancelAnswer:
    """Orchestrator → gateway: a cancel that took effect (refusals are raised instead).

    ``cancel_requested`` is True when a running robot was asked to stop and will be recorded
    cancelled when its module stops or its grace runs out; False when it was cancelled now.
    """

    id: str
    status: RobotStatus
    cancel_requested: bool = False


@dataclass(slots=True)
class DocumentAnswer:
    """Documents actor → gateway: a stored document (refusals raise ``BadDocument``).

    ``id`` is the SHA-256 of the bytes (hex), ``size`` in bytes, ``media_type`` as sniffed;
    ``created`` is False when the same bytes were stored before (and on a lookup).
    """

    id: str
    size: int
    media_type: str
    created: bool = False


@dataclass(slots=True)
class OrchestratorStats:
    """Orchestrator counters for metrics and benchmarks."""

    queued: int = 0
    in_memory: int = 0
    dispatched: int = 0
    commits: int = 0


@dataclass(slots=True)
class ReplicaPing:
    """Replica → orchestrator: who answered a ping (at start, and when adopted after a restart).

    ``in_flight`` counts robots running on it; ``node_id`` is its cluster node when known.
    """

    name: str
    pid: int
    in_flight: int
    node_id: str | None = None
