"""The rule model: ``on`` an event ``do`` an action, shared by chains, queue triggers,
schedules and notifications (a ``notify`` action beside ``submit``).

::

    {"id": "ocr-then-extract",
     "on": {"robot": {"type": "ocr.extract", "status": ["succeeded"]}},
     "when": "result.confidence > `80`",
     "do": {"submit": {"type": "invoice.extract",
                       "payload": {"source": "ocr"},
                       "map": {"document_id": "payload.document_id"}}}}

``do`` names exactly one action: ``submit`` a robot or ``notify`` (see
:mod:`runtime.notify.model`; a notify rule fires on robot events, robots running long,
metric thresholds and alerts). ``on`` names exactly one trigger: a robot event (type and
terminal statuses), a queue length (type and items), a schedule (cron or interval), a robot
running longer than N seconds or a metric threshold held for N seconds (the last two in
:mod:`runtime.rules.watches`), or an Alertmanager alert (name, labels, firing or resolved; it
can only notify, see :mod:`runtime.notify.alerts`). ``when`` and the values of ``map`` are
JMESPath expressions evaluated on the event (see :mod:`runtime.rules.mapping`).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime.models import JsonInt, RobotType
from runtime.notify.model import NotifyAction
from runtime.rules.mapping import check_expressions
from runtime.rules.watches import MetricTrigger, RunningTrigger
from runtime.text import MAX_UNIX_TIME, StoreJson, StoreText

__all__ = [
    "EVENT_STATUSES",
    "AlertTrigger",
    "MetricTrigger",
    "RULE_ID_PATTERN",
    "Overlap",
    "QueueTrigger",
    "RobotEventTrigger",
    "RunningTrigger",
    "Rule",
    "RuleRecord",
    "ScheduleState",
    "ScheduleTrigger",
    "SubmitAction",
    "TRIGGER_KINDS",
    "Action",
    "Trigger",
]

RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
"""Rule and schedule ids: 1 to 63 letters, digits and ``_.-``, starting alphanumeric."""

EVENT_STATUSES = ("succeeded", "failed", "dead", "cancelled")
"""The robot statuses a rule may fire on: the terminal ones."""

EventStatus = Literal["succeeded", "failed", "dead", "cancelled"]
_Expression = Annotated[StoreText, Field(min_length=1, max_length=1000)]


class Overlap(StrEnum):
    """What a schedule does with a slot while its previous run is unfinished."""

    SKIP = "skip"
    """Skip the slot (counted as skipped, reason ``overlap``)."""
    BUFFER_ONE = "buffer_one"
    """Keep one slot and fire it when the run ends; further slots are skipped."""
    ALLOW_ALL = "allow_all"
    """Fire every slot, whatever is running."""


def _succeeded() -> list[EventStatus]:
    return ["succeeded"]


class RobotEventTrigger(BaseModel):
    """``on.robot``: a robot of ``type`` reached one of ``status``."""

    model_config = ConfigDict(extra="forbid")

    type: RobotType
    status: list[EventStatus] = Field(default_factory=_succeeded, min_length=1, max_length=4)


class QueueTrigger(BaseModel):
    """``on.queue``: the queue of ``type`` holds at least ``items`` robots."""

    model_config = ConfigDict(extra="forbid")

    type: RobotType
    items: JsonInt = Field(ge=1, le=1_000_000)


class ScheduleTrigger(BaseModel):
    """``on.schedule``: slots by a cron expression or every ``every_s`` seconds.

    Cron slots are wall-clock times in ``timezone`` (an IANA name); a run is started
    ``jitter_s`` at most after its slot (the same delay for a slot after a restart). Slots
    before ``start_at`` or after ``end_at`` (Unix times) do not exist. Slots missed while
    the orchestrator was down are fired if younger than ``catchup_window_s``, else skipped
    (reason ``missed``).
    """

    model_config = ConfigDict(extra="forbid")

    cron: StoreText | None = Field(None, min_length=9, max_length=200)
    every_s: float | None = Field(None, ge=1, le=366 * 86_400, allow_inf_nan=False)
    timezone: StoreText = Field("UTC", min_length=1, max_length=64)
    jitter_s: float = Field(0.0, ge=0, le=86_400, allow_inf_nan=False)
    start_at: float | None = Field(None, ge=0, le=MAX_UNIX_TIME, allow_inf_nan=False)
    end_at: float | None = Field(None, ge=0, le=MAX_UNIX_TIME, allow_inf_nan=False)
    overlap: Overlap = Overlap.SKIP
    catchup_window_s: float = Field(60.0, ge=0, le=366 * 86_400, allow_inf_nan=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter  # noqa: PLC0415 (loaded with the first cron rule)

        if not croniter.is_valid(value) or len(value.split()) not in (5, 6):
            raise ValueError(f"invalid cron expression {value!r}")
        try:  # a valid expression may still name no day that exists ("0 0 31 2 *")
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except Exception:
            raise ValueError(f"cron expression {value!r} never fires") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("a schedule needs exactly one of cron and every_s")
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise ValueError("end_at is before start_at")
        return self


_LabelName = Annotated[StoreText, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$")]
_LabelValue = Annotated[StoreText, Field(max_length=1000)]


AlertStatus = Literal["firing", "resolved"]


def _firing() -> list[AlertStatus]:
    return ["firing"]


class AlertTrigger(BaseModel):
    """``on.alert``: an Alertmanager alert (``POST /v1/alerts``) named one of ``alertname``
    (any name when empty), whose labels hold every pair of ``labels``, in one of ``status``."""

    model_config = ConfigDict(extra="forbid")

    alertname: list[_LabelValue] = Field(default_factory=list, max_length=100)
    labels: dict[_LabelName, _LabelValue] = Field(default_factory=dict, max_length=32)
    status: list[AlertStatus] = Field(default_factory=_firing, min_length=1, max_length=2)

    def matches(self, status: str, labels: dict[str, str]) -> bool:
        """Whether an alert in ``status`` with ``labels`` fires this trigger."""
        if status not in self.status:
            return False
        if self.alertname and labels.get("alertname") not in self.alertname:
            return False
        return all(labels.get(name) == value for name, value in self.labels.items())


TRIGGER_KINDS = ("robot", "queue", "schedule", "running", "metric", "alert")
"""The keys of ``on``, one of which a rule names."""


class Trigger(BaseModel):
    """``on``: exactly one of ``robot``, ``queue``, ``schedule``, ``running``, ``metric``
    and ``alert``."""

    model_config = ConfigDict(extra="forbid")

    robot: RobotEventTrigger | None = None
    queue: QueueTrigger | None = None
    schedule: ScheduleTrigger | None = None
    running: RunningTrigger | None = None
    metric: MetricTrigger | None = None
    alert: AlertTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [n for n in TRIGGER_KINDS if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("'on' needs exactly one of " + ", ".join(TRIGGER_KINDS))
        return self

    @property
    def kind(self) -> str:
        """``robot``, ``queue``, ``schedule``, ``running``, ``metric`` or ``alert``."""
        return next(n for n in TRIGGER_KINDS if getattr(self, n) is not None)


class SubmitAction(BaseModel):
    """``do.submit``: submit a robot of ``type``.

    Its payload is ``payload`` with each key of ``map`` set to the value of its JMESPath
    expression on the event (a robot event is the robot: ``result.x``, ``payload.y``,
    ``id``; a schedule slot is ``{"schedule", "slot", "slot_iso"}``; a queue length is
    ``{"type", "items"}``).
    """

    model_config = ConfigDict(extra="forbid")

    type: RobotType
    payload: StoreJson = Field(default_factory=dict)
    map: dict[Annotated[StoreText, Field(min_length=1, max_length=128)], _Expression] = Field(
        default_factory=dict, max_length=64
    )
    priority: JsonInt = Field(5, ge=0, le=9)
    max_attempts: JsonInt = Field(3, ge=1, le=50)
    timeout_s: float = Field(300.0, gt=0, le=86_400, allow_inf_nan=False)


class Action(BaseModel):
    """``do``: what a firing does, exactly one of ``submit`` (a robot) and ``notify``
    (a channel's recipients, with a template)."""

    model_config = ConfigDict(extra="forbid")

    submit: SubmitAction | None = None
    notify: NotifyAction | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        if (self.submit is None) == (self.notify is None):
            raise ValueError("'do' needs exactly one of submit and notify")
        return self

    @property
    def kind(self) -> str:
        """``submit`` or ``notify``."""
        return "submit" if self.submit is not None else "notify"


class Rule(BaseModel):
    """A rule: ``on`` an event, when ``when`` holds, ``do`` an action.

    A rule never fires on a robot it submitted itself, so ``on echo do echo`` makes one
    step per robot, not a loop; a cycle through several rules needs a ``when`` that ends it.
    ``max_running`` bounds the unfinished robots a queue trigger keeps at once (M).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=RULE_ID_PATTERN)
    on: Trigger
    when: _Expression | None = None
    do: Action
    max_running: JsonInt = Field(1, ge=1, le=10_000)

    @model_validator(mode="after")
    def _compiles(self) -> Rule:
        if self.do.notify is not None and self.on.kind in ("queue", "schedule"):
            raise ValueError(
                "a notify rule fires on a robot event, a robot running long, a metric or an "
                "alert ('on.robot', 'on.running', 'on.metric' or 'on.alert')"
            )
        if self.on.alert is not None and self.do.notify is None:
            # the gateway turns alerts into outbox deliveries; robots go through the
            # orchestrator, which sees no alert
            raise ValueError("an alert rule notifies ('do.notify')")
        expressions = dict(self.do.submit.map) if self.do.submit is not None else {}
        if self.when is not None:
            expressions["when"] = self.when
        check_expressions(expressions)
        return self


class ScheduleState(BaseModel):
    """The durable state of a schedule: its slot cursor, pause, buffer and counts."""

    paused: bool = False
    decided_until: float | None = None
    """Every slot at or before this time is decided (fired or skipped)."""
    buffered_slot: float | None = None
    """The slot ``buffer_one`` keeps until the running robot ends."""
    version: int = 0
    fired: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    """Skipped slots by reason: ``overlap``, ``missed``, ``paused``."""


class RuleRecord(BaseModel):
    """A rule as the store keeps it: where it came from and, for a schedule, its state."""

    rule: Rule
    origin: Literal["config", "api"] = "api"
    created_at: float = Field(default_factory=time.time)
    state: ScheduleState = Field(default_factory=ScheduleState)


def slot_source(slot: float) -> str:
    """The firing ``source`` of a schedule slot (Unix time, milliseconds kept)."""
    return f"slot:{slot:.3f}"


def idempotency_key(rule_id: str, source: str) -> str:
    """The idempotency key of the robot a rule submits for ``source``.

    A chain step is keyed by (rule, parent robot), a slot by (schedule, slot time): the
    store holds one robot per key, so a repeated firing finds the first robot.
    """
    return f"rule:{rule_id}:{source}"


_RESERVED = re.compile(r"^rule:")


def is_reserved_key(key: str) -> bool:
    """Whether a client's idempotency key would collide with the keys rules use."""
    return bool(_RESERVED.match(key))


def event_of_queue(robot_type: str, items: int) -> dict[str, Any]:
    """The event document of a queue trigger."""
    return {"type": robot_type, "items": items}
