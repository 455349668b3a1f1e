"""Pydantic models of robots, modules, attempts and events."""

from __future__ import annotations

import os
import random
import time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from runtime.autoscaling import AutoscalingConfig, AutoscalingStatus
from runtime.text import MAX_UNIX_TIME, StoreJson, StoreText
from runtime.wire import reduce_model, share_field_names, trusted_model

ROBOT_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
MODULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
REPLICA_PREFIX_PATTERN = r"^[a-z][a-z0-9_.-]{0,62}$"
ID_PATTERN = r"^[A-Za-z0-9]{1,64}$"
"""Robot, key and audit entry ids (and paging cursors, which are ids)."""

RobotType = Annotated[str, Field(pattern=ROBOT_TYPE_PATTERN)]
"""A robot type: 1 to 128 letters, digits and ``_.:-``."""
ModuleName = Annotated[str, Field(pattern=MODULE_NAME_PATTERN)]
"""A module name: lower-case letters, digits and ``_.-``, 1 to 63, starting alphanumeric."""


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
"""An integer as JSON Schema means it: ``3`` or ``3.0``, never ``true`` or ``"3"``."""
# Actor names that start like these belong to robofleet itself.
RESERVED_REPLICA_PREFIXES = frozenset({"module", "gateway"})


class RobotStatus(StrEnum):
    """Where a robot is in its lifecycle."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        """Whether no further transition can leave this status."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {RobotStatus.SUCCEEDED, RobotStatus.FAILED, RobotStatus.CANCELLED, RobotStatus.DEAD}
)


class RobotRequest(BaseModel):
    """A robot as a client submits it."""

    model_config = ConfigDict(extra="forbid")

    type: RobotType = Field(description="Robot type a module handles.")
    payload: StoreJson = Field(
        default_factory=dict,
        description="Input of the robot: a JSON object nested at most 64 levels, finite "
        "numbers, no NUL character.",
    )
    priority: JsonInt = Field(5, ge=0, le=9, description="0 (lowest) to 9 (most urgent).")
    deadline: float | None = Field(
        None,
        ge=0,
        le=MAX_UNIX_TIME,
        allow_inf_nan=False,
        strict=True,
        description="Unix time (seconds) by which the robot should run; earlier runs first.",
    )
    idempotency_key: Annotated[StoreText, Field(min_length=1, max_length=200)] | None = None
    max_attempts: JsonInt = Field(3, ge=1, le=50)
    timeout_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        strict=True,
        description="Seconds one attempt may run.",
    )


_ids = random.Random(os.urandom(16))


REQUEST_FIELDS = tuple(name for name in RobotRequest.model_fields if name != "idempotency_key")
"""What a client chooses of a robot, apart from its idempotency key."""


def new_robot_id() -> str:
    """Return a new robot id: 12 hex digits of milliseconds then 12 random hex digits.

    Ids sort by creation time, which keeps store indexes append-mostly. They are not
    secrets (access is checked on every read), so a seeded PRNG is enough and avoids a
    system call per robot.
    """
    return f"{int(time.time() * 1000):012x}{_ids.getrandbits(48):012x}"


_FRESH: dict[str, Any] = {
    "status": RobotStatus.QUEUED,
    "attempt": 1,
    "module": None,
    "replica": None,
    "result": None,
    "error": None,
    "progress": 0.0,
    "message": None,
    "not_before": 0.0,
    "started_at": None,
    "finished_at": None,
    "parent_id": None,
    "rule_id": None,
    "children": [],
}
"""The fields of a robot just accepted that its request does not carry."""


class Robot(BaseModel):
    """A robot as the store records it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: int = 5
    deadline: float | None = None
    idempotency_key: str | None = None
    max_attempts: int = 3
    timeout_s: float = 300.0
    status: RobotStatus = RobotStatus.QUEUED
    attempt: int = 1
    module: str | None = None
    replica: str | None = None
    result: Any = None
    error: str | None = None
    progress: float = 0.0
    message: str | None = None
    not_before: float = 0.0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    parent_id: str | None = Field(
        None, description="The robot whose outcome submitted this one (a chain rule)."
    )
    rule_id: str | None = Field(None, description="The rule or schedule that submitted it.")
    children: list[str] = Field(
        default_factory=list, description="Robots that rules submitted when this one ended."
    )

    __reduce__ = reduce_model  # pickled as its field values: robots cross actors in bulk

    @classmethod
    def accepted(cls, robot_id: str, request: RobotRequest, now: float) -> Robot:
        """A queued robot from a request already validated at the gateway (not checked again).

        ``now`` (Unix seconds) becomes ``created_at`` and ``updated_at``.
        """
        values = {**_FRESH, **request.__dict__, "id": robot_id, "children": []}
        return trusted_model(cls, {**values, "created_at": now, "updated_at": now})

    def same_request(self, other: Robot) -> bool:
        """Whether two robots were submitted with the same request (idempotency key aside)."""
        return all(getattr(self, name) == getattr(other, name) for name in REQUEST_FIELDS)


share_field_names(Robot)  # before any robot exists: see the function


class Attempt(BaseModel):
    """One execution of a robot on a replica, as recorded when it ends."""

    robot_id: str
    attempt: int
    module: str | None = None
    replica: str | None = None
    status: RobotStatus
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None


class RobotEvent(BaseModel):
    """A progress report or state change of one robot."""

    robot_id: str
    attempt: int
    kind: str = Field(description="'progress' or 'status'.")
    status: RobotStatus | None = None
    progress: float | None = None
    message: str | None = None
    at: float = Field(default_factory=time.time)


class HealthState(StrEnum):
    """How well a module or replica answers its health check."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class ModuleSpec(BaseModel):
    """A module as registered: which class, which robot types, how many replicas."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=MODULE_NAME_PATTERN)
    class_path: str = Field(
        alias="class", pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="pkg.module:Class"
    )
    types: list[RobotType] = Field(default_factory=list, max_length=64)
    replicas: JsonInt = Field(1, ge=0, le=256)
    max_concurrency: JsonInt = Field(4, ge=1, le=10_000)
    resources: dict[
        Annotated[StoreText, Field(min_length=1, max_length=128)],
        Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)],
    ] = Field(default_factory=dict, description="Ray resources of each replica.")
    options: StoreJson = Field(default_factory=dict, description="Passed to the module.")
    replica_prefix: str | None = Field(
        None,
        pattern=REPLICA_PREFIX_PATTERN,
        description="Replica actor names are '<prefix>:<n>'; default 'module:<name>'.",
    )
    autoscaling: AutoscalingConfig | None = Field(
        None,
        description="Scale replicas with the load (Ray Serve's knobs); absent: fixed replicas.",
    )

    @model_validator(mode="after")
    def _replicas_within_autoscaling(self) -> ModuleSpec:
        scaling = self.autoscaling
        if scaling is None:
            return self
        if "replicas" not in self.model_fields_set:
            self.replicas = scaling.start_replicas()
        elif not scaling.min_replicas <= self.replicas <= scaling.max_replicas:
            raise ValueError(
                f"replicas ({self.replicas}) is outside autoscaling's min_replicas..max_replicas "
                f"({scaling.min_replicas}..{scaling.max_replicas})"
            )
        return self

    @field_validator("replica_prefix")
    @classmethod
    def _prefix_not_reserved(cls, value: str | None) -> str | None:
        if value in RESERVED_REPLICA_PREFIXES:
            raise ValueError(f"replica prefix {value!r} is reserved")
        return value


class ReplicaInfo(BaseModel):
    """A replica as the orchestrator reports it."""

    name: str
    in_flight: int
    slots: int
    health: HealthState
    alive: bool
    node_id: str | None = None
    completed: int = 0


class ModuleInfo(BaseModel):
    """A registered module with its live routing state."""

    name: str
    class_path: str
    types: list[str]
    health: HealthState
    breaker: str
    performance: float
    queued: int
    unplaceable: str | None = None
    replicas: list[ReplicaInfo]
    autoscaling: AutoscalingStatus | None = Field(
        None, description="The module's autoscaling knobs, desired replicas and latest decisions."
    )


class ClusterNode(BaseModel):
    """One node of the cluster with its resources, gateways and replicas."""

    node_id: str
    address: str | None = None
    alive: bool
    resources: dict[str, float]
    gateways: list[str]
    replicas: list[str]


class ClusterView(BaseModel):
    """Answer of ``GET /v1/cluster``."""

    nodes: list[ClusterNode]


class FiringOutcome(StrEnum):
    """What a rule's firing led to."""

    FIRED = "fired"
    SKIPPED = "skipped"
    FAILED = "failed"
    RESOLVED = "resolved"
    """A metric rule's condition stopped holding (after it fired)."""


class RuleFiring(BaseModel):
    """One firing of a rule, as recorded in the store.

    ``source`` names what fired it: the robot whose event matched (a chain), the slot of a
    schedule (``slot:<unix time>``), ``manual:<unix time>`` (trigger now), ``queue:<type>``,
    a robot's attempt running long (``running:<robot id>:<attempt>``) or a metric condition
    (``metric:<unix time it started holding>``, fired then ``resolved``).
    ``robot_id`` is the robot it submitted (None when skipped or failed); ``detail`` the
    reason of a skip (``overlap``, ``missed``, ``paused``) or of a failure, or what a
    metric read.
    """

    id: str
    rule_id: str
    at: float
    source: str
    outcome: FiringOutcome
    robot_id: str | None = None
    detail: str | None = None
