"""A routing decision as stored with its attempt, and as ``GET /v1/robots/{id}/routing`` shows it.

Stored form: compact JSON of arrays (one per candidate and per compared replica), written by
the orchestrator's start transition in the store write that already carries the attempt,
about 150 bytes for two candidates. Floats are written as orjson writes them (shortest form
that reads back to the same double), so a decision read back holds the very numbers the
policy compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson
from pydantic import BaseModel, Field

from runtime.models import RobotStatus
from runtime.routing import (
    CAPACITY_WEIGHT,
    HEALTH_WEIGHT,
    PERFORMANCE_WEIGHT,
    CandidateScore,
    ReplicaSeen,
    RouteDecision,
)

WEIGHTS = f"{PERFORMANCE_WEIGHT} * performance + {CAPACITY_WEIGHT} * capacity + " + (
    f"{HEALTH_WEIGHT} * health"
)
"""The weighted total every candidate's ``total`` is, in words."""


def decision_json(decision: RouteDecision) -> str:
    """The decision as compact JSON text (keys present only when set)."""
    data: dict[str, Any] = {
        "c": [
            [c.module, c.performance, c.capacity, c.health, c.total, c.breaker, c.excluded]
            for c in decision.candidates
        ]
    }
    if decision.module is not None:
        data["m"] = decision.module
        data["w"] = decision.win
    if decision.compared:
        data["r"] = [[r.name, r.in_flight] for r in decision.compared]
    if decision.replica is not None:
        data["p"] = decision.replica
    if decision.wait is not None:
        data["x"] = decision.wait
    if decision.waited is not None:
        data["wr"] = decision.waited
        data["ws"] = decision.waited_s
    return orjson.dumps(data).decode()


def decision_from_json(text: str) -> RouteDecision:
    """Rebuild a decision from :func:`decision_json`'s text; ``ValueError`` if malformed."""
    try:
        data = orjson.loads(text)
        return RouteDecision(
            candidates=tuple(CandidateScore(*c) for c in data["c"]),
            module=data.get("m"),
            win=data.get("w"),
            compared=tuple(ReplicaSeen(name, n) for name, n in data.get("r", ())),
            replica=data.get("p"),
            wait=data.get("x"),
            waited=data.get("wr"),
            waited_s=data.get("ws"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a stored routing decision: {exc}") from exc


@dataclass(slots=True)
class AttemptRoute:
    """One attempt of a robot as the store holds it, with the decision that placed it."""

    attempt: int
    module: str | None
    replica: str | None
    status: RobotStatus
    started_at: float | None
    finished_at: float | None
    decision: RouteDecision | None


def route_from_row(row: Sequence[Any]) -> AttemptRoute:
    """Rebuild an attempt route from ``(attempt, module, replica, status, started_at,
    finished_at, routing)``; an unreadable decision reads as None."""
    attempt, module, replica, status, started_at, finished_at, routing = row
    decision = None
    if routing is not None:
        try:
            decision = decision_from_json(routing)
        except ValueError:
            decision = None
    return AttemptRoute(
        attempt, module, replica, RobotStatus(status), started_at, finished_at, decision
    )


# -- what the API shows ---------------------------------------------------------------------


class CandidateView(BaseModel):
    """A candidate module with the scores routing computed for it."""

    module: str
    performance: float = Field(description="EWMA of success rate and speed, 0..1.")
    capacity: float = Field(description="Share of the module's slots that were free, 0..1.")
    health: float = Field(description="1 healthy, 0.5 degraded, 0 unhealthy.")
    total: float = Field(description=f"The weighted total: {WEIGHTS}.")
    breaker: str = Field(description="closed, open or half_open.")
    excluded: str | None = Field(
        None,
        description="Why it could not take the robot (breaker_open, trial_out, "
        "unhealthy, no_free_slot); null if it could.",
    )


class ReplicaView(BaseModel):
    """A replica power-of-two-choices compared, with its in-flight robots then."""

    name: str
    in_flight: int


class DecisionView(BaseModel):
    """The routing decision of one attempt, with a sentence saying why."""

    candidates: list[CandidateView]
    module: str | None = Field(None, description="The module chosen.")
    win: str | None = Field(
        None, description="best_score, only_candidate or breaker_trial (half-open trial)."
    )
    compared: list[ReplicaView] = Field(
        default_factory=list,
        description="The two replicas compared, or the single one with a free slot.",
    )
    replica: str | None = None
    wait: str | None = Field(None, description="Why no module could take it (no placement).")
    waited: str | None = Field(
        None, description="Why it waited in line before this placement, if it did."
    )
    waited_s: float | None = Field(None, description="Seconds it was ready in line.")
    why: str = Field(description="The decision in words.")


class AttemptRouting(BaseModel):
    """One attempt of a robot and the routing decision that placed it."""

    attempt: int
    status: RobotStatus
    module: str | None = None
    replica: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    decision: DecisionView | None = Field(
        None, description="Null for an attempt recorded before routing was explained."
    )


class RobotRouting(BaseModel):
    """``GET /v1/robots/{id}/routing``: every attempt of a robot with its decision."""

    robot_id: str
    type: str
    status: RobotStatus
    weights: str = Field(WEIGHTS, description="How each candidate's total is made.")
    attempts: list[AttemptRouting]
    waiting: DecisionView | None = Field(
        None,
        description="For a queued robot held up in line: the latest decision that placed "
        "nothing, with why (wait) and the seconds it has been ready (waited_s).",
    )


def _score(c: CandidateScore) -> str:
    return f"{c.module} {c.total:.3f}"


def why(decision: RouteDecision) -> str:
    """The decision in one or two sentences, from the recorded numbers alone."""
    others = [c for c in decision.candidates if c.module != decision.module]
    if decision.module is None:
        reasons = ", ".join(f"{c.module}: {c.excluded}" for c in decision.candidates)
        text = f"no module could take it ({decision.wait}"
        return text + (f"; {reasons})." if reasons else ").")
    winner = next((c for c in decision.candidates if c.module == decision.module), None)
    if winner is None:  # a record from another version: say what it holds, guess nothing
        return f"{decision.module} won ({decision.win})."
    if decision.win == "breaker_trial":
        text = f"{winner.module} won: its half-open breaker takes one trial robot first"
    elif decision.win == "only_candidate":
        text = f"{winner.module} won as the only module that could take it ({winner.total:.3f})"
    else:
        eligible = [c for c in others if c.excluded is None]
        text = f"{_score(winner)} won: the highest total, ahead of " + ", ".join(
            _score(c) for c in eligible
        )
    excluded = [f"{c.module} {c.excluded}" for c in others if c.excluded is not None]
    if excluded:
        text += "; left out: " + ", ".join(excluded)
    if len(decision.compared) == 2:
        a, b = decision.compared
        text += (
            f". Replica {decision.replica}: fewer in flight of {a.name} ({a.in_flight}) and "
            f"{b.name} ({b.in_flight})"
        )
    elif decision.compared:
        text += f". Replica {decision.replica}: the only one with a free slot"
    if decision.waited is not None:
        text += f". It waited {decision.waited_s or 0.0:.2f}s in line: {decision.waited}"
    return text + "."


def decision_view(decision: RouteDecision) -> DecisionView:
    """What the API shows of a stored decision."""
    return DecisionView(**asdict(decision), why=why(decision))


def attempt_view(route: AttemptRoute) -> AttemptRouting:
    """What the API shows of one attempt."""
    values = {f.name: getattr(route, f.name) for f in fields(route)}
    if route.decision is not None:
        values["decision"] = decision_view(route.decision)
    return AttemptRouting(**values)
