"""Triggers the rule loop watches on its timer: a robot running long, a metric threshold.

Pure models and functions; :mod:`actors.rule_watches` reads the orchestrator's figures,
calls them once a second and writes what they decide.

::

    {"id": "slow-ocr", "on": {"running": {"type": "ocr.extract", "longer_than_s": 120}},
     "do": {"notify": {...}}}
    {"id": "ocr-backlog",
     "on": {"metric": {"figure": "queue_depth", "module": "ocr", "op": ">", "value": 100,
                       "for_s": 30}},
     "do": {"notify": {...}}}

A ``running`` rule fires once per robot attempt: its firing id, its outbox deliveries (key
and id) and its robot's idempotency key all derive from (rule, robot, attempt), so writing
them again (after a crash, a failed write) adds nothing. A ``metric`` rule fires once when its
condition has held ``for_s`` seconds and records a ``resolved`` firing when it stops.
"""

from __future__ import annotations

import hashlib
import operator
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.messages import RobotFigures
from runtime.models import Robot, RobotType
from runtime.text import StoreText

__all__ = [
    "FIGURES",
    "derived_id",
    "ErrorWindow",
    "MetricHold",
    "MetricTrigger",
    "RunningTrigger",
    "figure_value",
    "metric_event",
    "metric_source",
    "running_event",
    "running_source",
]

FIGURES = ("queue_depth", "in_flight", "robots", "error_ratio")
"""The orchestrator's figures a metric rule may watch."""

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class RunningTrigger(BaseModel):
    """``on.running``: a robot of ``type`` (any type when omitted) has been running its
    current attempt longer than ``longer_than_s`` seconds. Fires once per attempt; a robot
    that ends sooner never fires it."""

    model_config = ConfigDict(extra="forbid")

    type: RobotType | None = None
    longer_than_s: float = Field(ge=1, le=7 * 86_400, allow_inf_nan=False)


class MetricTrigger(BaseModel):
    """``on.metric``: one of the orchestrator's figures compared with ``value``, held for
    ``for_s`` seconds.

    ``figure`` is one of:

    - ``queue_depth``: robots queued for ``module``, or in the queue of ``type`` (one of
      the two);
    - ``in_flight``: robots running on the replicas of ``module`` (all modules if omitted);
    - ``robots``: robots held with ``status`` (``queued`` or ``running``);
    - ``error_ratio``: (failed + dead) / (succeeded + failed + dead) of the robots of
      ``type`` (all types if omitted) that ended in the last ``window_s`` seconds; no robot
      ended means no value, and a condition on no value does not hold.
    """

    model_config = ConfigDict(extra="forbid")

    figure: Literal["queue_depth", "in_flight", "robots", "error_ratio"]
    module: StoreText | None = Field(None, min_length=1, max_length=128)
    type: RobotType | None = None
    status: Literal["queued", "running"] | None = None
    window_s: float | None = Field(None, ge=1, le=86_400, allow_inf_nan=False)
    op: Literal[">", ">=", "<", "<="]
    value: float = Field(allow_inf_nan=False)
    for_s: float = Field(0.0, ge=0, le=86_400, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fields_of_figure(self) -> MetricTrigger:
        allowed = {
            "queue_depth": {"module", "type"},
            "in_flight": {"module"},
            "robots": {"status"},
            "error_ratio": {"type", "window_s"},
        }[self.figure]
        for name in ("module", "type", "status", "window_s"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"figure {self.figure!r} takes no {name!r}")
        if self.figure == "queue_depth" and (self.module is None) == (self.type is None):
            raise ValueError("figure 'queue_depth' needs exactly one of module and type")
        if self.figure == "robots" and self.status is None:
            raise ValueError("figure 'robots' needs a status: queued or running")
        if self.figure == "error_ratio":
            if self.window_s is None:
                raise ValueError("figure 'error_ratio' needs window_s (seconds)")
            if not 0 <= self.value <= 1:
                raise ValueError("an error_ratio is compared with a value from 0 to 1")
        return self

    def label(self) -> str:
        """E.g. ``queue_depth{module=ocr}``: the figure and what it is of."""
        parts = [
            f"{name}={getattr(self, name)}"
            for name in ("module", "type", "status")
            if getattr(self, name) is not None
        ]
        if self.window_s is not None:
            parts.append(f"window_s={self.window_s:g}")
        return f"{self.figure}{{{','.join(parts)}}}"

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the condition (no value never does)."""
        return value is not None and _OPS[self.op](value, self.value)


class ErrorWindow:
    """Terminal outcome counts sampled over time, to read an error ratio over a window.

    Reads the orchestrator's cumulative ``outcomes`` (never recounts robots): the ratio is
    the growth of (failed + dead) over the growth of (succeeded + failed + dead) between
    the newest sample at least ``window_s`` old (else the oldest) and now.
    """

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self.samples: deque[tuple[float, int, int]] = deque()

    def ratio(self, now: float, bad: int, ended: int, window_s: float) -> float | None:
        """Add the sample (``bad`` and ``ended`` so far at ``now``); the ratio over the
        window, or None when no robot ended in it."""
        self.samples.append((now, bad, ended))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.keep_s:
            self.samples.popleft()
        base = self.samples[0]
        for sample in self.samples:
            if sample[0] > now - window_s:
                break
            base = sample
        grown = ended - base[2]
        return (bad - base[1]) / grown if grown > 0 else None


def figure_value(
    trigger: MetricTrigger,
    figures: RobotFigures,
    queued: Callable[[str], int],
    window: ErrorWindow | None,
    now: float,
) -> float | None:
    """The value of ``trigger``'s figure in ``figures`` (``queued`` answers a type's queue
    length; ``window`` keeps the error ratio's samples). None when it has no value."""
    if trigger.figure == "queue_depth":
        if trigger.type is not None:
            return float(queued(trigger.type))
        return float(figures.queue_depth.get(trigger.module or "", 0))
    if trigger.figure == "in_flight":
        modules = [trigger.module] if trigger.module else list(figures.in_flight)
        return float(sum(sum(figures.in_flight.get(m, {}).values()) for m in modules))
    if trigger.figure == "robots":
        return float(figures.active.get(trigger.status or "", 0))
    types: Mapping[str, Mapping[str, int]] = figures.outcomes
    if trigger.type is not None:
        types = {trigger.type: figures.outcomes.get(trigger.type, {})}
    bad = sum(s.get("failed", 0) + s.get("dead", 0) for s in types.values())
    ended = bad + sum(s.get("succeeded", 0) for s in types.values())
    assert window is not None and trigger.window_s is not None
    return window.ratio(now, bad, ended, trigger.window_s)


@dataclass(slots=True)
class MetricHold:
    """A metric rule's state: since when its condition holds, and whether it fired.

    :meth:`step` moves it with each reading; the caller writes what it answers and only
    then :meth:`commit` s the new state, so a failed write is tried again next time.
    """

    since: float | None = None
    """When the condition started holding (None: it does not hold)."""
    firing: bool = False
    """Whether the rule fired for the current ``since`` and has not resolved yet."""

    def step(self, holds: bool, now: float, for_s: float) -> Literal["fire", "resolve"] | None:
        """What to record for a reading at ``now``: ``fire`` once the condition has held
        ``for_s`` seconds, ``resolve`` when a fired condition stops holding, else None."""
        if holds:
            if self.since is None:
                self.since = now
            if not self.firing and now - self.since >= for_s:
                return "fire"
            return None
        if self.firing:
            return "resolve"
        self.since = None  # held shorter than for_s: nothing happened
        return None

    def commit(self, what: Literal["fire", "resolve"]) -> None:
        """Take the state a written ``fire`` or ``resolve`` leads to."""
        if what == "fire":
            self.firing = True
        else:
            self.firing = False
            self.since = None


def running_source(robot: Robot) -> str:
    """The firing source of a running robot's attempt: ``running:<robot id>:<attempt>``."""
    return f"running:{robot.id}:{robot.attempt}"


def metric_source(since: float) -> str:
    """The firing source of a metric condition that started holding at ``since``."""
    return f"metric:{since:.3f}"


def derived_id(at: float, *parts: str) -> str:
    """An id in the robot id format that sorts by ``at`` and is the same for the same
    ``parts`` (a firing's rule, source and outcome; a delivery's outbox key), so writing
    it twice stores it once."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=6)
    return f"{int(at * 1000):012x}{digest.hexdigest()}"


def running_event(robot: Robot, now: float) -> dict[str, Any]:
    """The event document of a robot running long: ``{"id", "type", "status", "attempt",
    "module", "payload", "parent_id", "priority", "started_at", "running_s"}``."""
    started = robot.started_at if robot.started_at is not None else now
    return {
        "id": robot.id,
        "type": robot.type,
        "status": "running",
        "attempt": robot.attempt,
        "module": robot.module,
        "payload": robot.payload,
        "parent_id": robot.parent_id,
        "priority": robot.priority,
        "started_at": started,
        "running_s": round(now - started, 3),
    }


def metric_event(
    rule_id: str, trigger: MetricTrigger, value: float | None, since: float, now: float
) -> dict[str, Any]:
    """The event document of a metric condition that has held ``for_s``: ``{"rule",
    "figure", "label", "module", "type", "status", "op", "threshold", "value", "since",
    "held_s"}``."""
    return {
        "rule": rule_id,
        "figure": trigger.figure,
        "label": trigger.label(),
        "module": trigger.module,
        "type": trigger.type,
        "status": trigger.status,
        "op": trigger.op,
        "threshold": trigger.value,
        "value": value,
        "since": since,
        "held_s": round(now - since, 3),
    }
