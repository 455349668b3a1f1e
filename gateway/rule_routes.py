"""Rules and schedules: ``/v1/rules`` and ``/v1/schedules`` (admin).

Reads come from the store (a schedule's state is written there with each decision, so a
read is current even while the orchestrator restarts); changes go to the orchestrator, the
one owner of rules and slots. Exports ``ROUTES``, ``PATHS`` and ``MODELS`` like every route
module.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit import AUDIT_TARGET
from gateway.http import json_response, parse, read_json
from gateway.schemas import Cursor
from gateway.spec import body, json_answer, links, operation, path_id, query_parameters
from gateway.state import CONTROL, SETTINGS, STORE
from runtime.errors import RuleRejected, UnknownRule
from runtime.keys import Permission
from runtime.models import RuleFiring
from runtime.notify.settings import unknown_target
from runtime.rules.model import RULE_ID_PATTERN, Rule, RuleRecord, ScheduleState
from runtime.rules.slots import fire_time, iso, slots_after
from runtime.text import MAX_UNIX_TIME

__all__ = ["MODELS", "PATHS", "ROUTES", "rule_view"]

_RULE_ID = re.compile(RULE_ID_PATTERN)


class ScheduleView(ScheduleState):
    """A schedule's state as shown: its cursor, counts, and when it fires next."""

    next_slot: float | None = Field(None, description="The next undecided slot (Unix time).")
    next_slot_local: str | None = Field(None, description="That slot in the schedule's zone.")
    next_fire_at: float | None = Field(None, description="When it fires (the slot + jitter).")


class RuleView(BaseModel):
    """A rule as ``/v1/rules`` and ``/v1/schedules`` show it."""

    id: str
    origin: str = Field(description="'config' (the config file) or 'api'.")
    created_at: float
    rule: Rule
    schedule: ScheduleView | None = None


class RuleList(BaseModel):
    """Answer of ``GET /v1/rules`` and ``GET /v1/schedules``."""

    rules: list[RuleView]


class FiringQuery(BaseModel):
    """Query of ``GET /v1/rules/{rule_id}/firings``."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class FiringPage(BaseModel):
    """A page of a rule's firings, newest first."""

    firings: list[RuleFiring]
    next_cursor: str | None


class BackfillRequest(BaseModel):
    """Body of ``POST /v1/schedules/{rule_id}/backfill``: fire the slots in [start, end]."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(ge=0, le=MAX_UNIX_TIME, allow_inf_nan=False, description="Unix time.")
    end: float = Field(ge=0, le=MAX_UNIX_TIME, allow_inf_nan=False, description="Unix time.")


class ScheduleRun(BaseModel):
    """Answer of trigger and backfill: robots submitted and slots not fired."""

    schedule_id: str
    fired: int
    skipped: int
    robot_ids: list[str]


class Deleted(BaseModel):
    """Answer of a delete."""

    id: str
    deleted: bool


def rule_view(record: RuleRecord) -> RuleView:
    """What the routes show of a stored rule (a schedule with its next slot)."""
    rule = record.rule
    view = RuleView(id=rule.id, origin=record.origin, created_at=record.created_at, rule=rule)
    trigger = rule.on.schedule
    if trigger is not None:
        after = record.state.decided_until or record.created_at
        try:
            upcoming = list(itertools.islice(slots_after(trigger, after), 1))
        except (ValueError, OverflowError, KeyError):  # past the year 9999: no next slot
            upcoming = []
        slot = upcoming[0] if upcoming else None
        view.schedule = ScheduleView(
            **record.state.model_dump(),
            next_slot=slot,
            next_slot_local=iso(slot, trigger.timezone) if slot is not None else None,
            next_fire_at=fire_time(rule.id, slot, trigger.jitter_s) if slot is not None else None,
        )
    return view


def _answer(record: RuleRecord, status: int = 200) -> web.Response:
    return json_response(rule_view(record).model_dump(mode="json"), status)


def _rule_id(request: web.Request, schedule: bool = False) -> str:
    """The path's rule id; an id no rule can have is ``UnknownRule`` (404)."""
    rule_id = request.match_info["rule_id"]
    if not _RULE_ID.fullmatch(rule_id):
        raise UnknownRule(f"no {'schedule' if schedule else 'rule'} with id {rule_id!r}")
    return rule_id


async def _stored(request: web.Request, schedule: bool = False) -> RuleRecord:
    rule_id = _rule_id(request, schedule)
    record = await request.app[STORE].get_rule(rule_id)
    if record is None or (schedule and record.rule.on.schedule is None):
        raise UnknownRule(f"no {'schedule' if schedule else 'rule'} with id {rule_id!r}")
    return record


def _known_targets(request: web.Request, rule: Rule) -> None:
    """Raise RuleRejected (422) when a notify rule names a target the config lacks."""
    if rule.do.notify is not None:
        problem = unknown_target(rule.do.notify, request.app[SETTINGS].notify)
        if problem is not None:
            raise RuleRejected(problem)


async def create_rule(request: web.Request) -> web.Response:
    """``POST /v1/rules``: add a rule (or a schedule); 409 if its id is taken, 422 if a
    notify rule names a webhook endpoint or Apprise target the config does not have."""
    rule = parse(Rule, await read_json(request), strict=True)
    request[AUDIT_TARGET] = rule.id
    _known_targets(request, rule)
    return _answer(await request.app[CONTROL].create_rule(rule), 201)


async def list_rules(request: web.Request) -> web.Response:
    """``GET /v1/rules``: every rule and schedule with its state."""
    records = await request.app[STORE].list_rules()
    return json_response({"rules": [rule_view(r).model_dump(mode="json") for r in records]})


async def get_rule(request: web.Request) -> web.Response:
    """``GET /v1/rules/{rule_id}``: one rule."""
    return _answer(await _stored(request))


async def delete_rule(request: web.Request) -> web.Response:
    """``DELETE /v1/rules/{rule_id}``: remove a rule added through the API (its firings stay)."""
    record = await _stored(request, schedule=request.path.startswith("/v1/schedules/"))
    request[AUDIT_TARGET] = record.rule.id
    await request.app[CONTROL].delete_rule(record.rule.id)
    return json_response({"id": record.rule.id, "deleted": True})


async def list_firings(request: web.Request) -> web.Response:
    """``GET /v1/rules/{rule_id}/firings``: what the rule did, newest first; 404 for a rule
    that neither exists nor fired (a deleted rule's firings stay readable)."""
    query = parse(FiringQuery, dict(request.query))
    rule_id = _rule_id(request)
    store = request.app[STORE]
    firings = await store.list_firings(rule_id, query.limit + 1, query.cursor)
    if not firings and query.cursor is None and await store.get_rule(rule_id) is None:
        raise UnknownRule(f"no rule with id {rule_id!r}")
    more = len(firings) > query.limit
    firings = firings[: query.limit]
    return json_response(
        {
            "firings": [f.model_dump(mode="json") for f in firings],
            "next_cursor": firings[-1].id if more else None,
        }
    )


async def create_schedule(request: web.Request) -> web.Response:
    """``POST /v1/schedules``: add a rule whose ``on`` is a schedule."""
    rule = parse(Rule, await read_json(request), strict=True)
    request[AUDIT_TARGET] = rule.id
    if rule.on.schedule is None:
        raise RuleRejected("a schedule's 'on' must be a schedule: use /v1/rules for others")
    return _answer(await request.app[CONTROL].create_rule(rule), 201)


async def list_schedules(request: web.Request) -> web.Response:
    """``GET /v1/schedules``: every schedule with its cursor, counts and next slot."""
    records = await request.app[STORE].list_rules()
    return json_response(
        {
            "rules": [
                rule_view(r).model_dump(mode="json")
                for r in records
                if r.rule.on.schedule is not None
            ]
        }
    )


async def get_schedule(request: web.Request) -> web.Response:
    """``GET /v1/schedules/{rule_id}``: one schedule."""
    return _answer(await _stored(request, schedule=True))


async def pause_schedule(request: web.Request) -> web.Response:
    """``POST /v1/schedules/{rule_id}/pause``: slots coming due are skipped (``paused``)."""
    record = await _stored(request, schedule=True)
    request[AUDIT_TARGET] = record.rule.id
    return _answer(await request.app[CONTROL].pause_schedule(record.rule.id, True))


async def resume_schedule(request: web.Request) -> web.Response:
    """``POST /v1/schedules/{rule_id}/resume``: fire slots again from the next one."""
    record = await _stored(request, schedule=True)
    request[AUDIT_TARGET] = record.rule.id
    return _answer(await request.app[CONTROL].pause_schedule(record.rule.id, False))


async def trigger_schedule(request: web.Request) -> web.Response:
    """``POST /v1/schedules/{rule_id}/trigger``: fire now, outside the slots."""
    record = await _stored(request, schedule=True)
    request[AUDIT_TARGET] = record.rule.id
    answer = await request.app[CONTROL].trigger_schedule(record.rule.id)
    return json_response(ScheduleRun(**_run(answer)).model_dump())


async def backfill_schedule(request: web.Request) -> web.Response:
    """``POST /v1/schedules/{rule_id}/backfill``: fire the past slots of a range not fired
    yet (1,000 at most); a slot fired before keeps its one robot."""
    record = await _stored(request, schedule=True)
    request[AUDIT_TARGET] = record.rule.id
    span = parse(BackfillRequest, await read_json(request), strict=True)
    answer = await request.app[CONTROL].backfill_schedule(record.rule.id, span.start, span.end)
    return json_response(ScheduleRun(**_run(answer)).model_dump())


def _run(answer: Any) -> dict[str, Any]:
    return {
        "schedule_id": answer.schedule_id,
        "fired": answer.fired,
        "skipped": answer.skipped,
        "robot_ids": list(answer.robot_ids),
    }


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.post("/v1/rules", create_rule), Permission.ADMIN),
    (web.get("/v1/rules", list_rules), Permission.ADMIN),
    (web.get("/v1/rules/{rule_id}", get_rule), Permission.ADMIN),
    (web.delete("/v1/rules/{rule_id}", delete_rule), Permission.ADMIN),
    (web.get("/v1/rules/{rule_id}/firings", list_firings), Permission.ADMIN),
    (web.post("/v1/schedules", create_schedule), Permission.ADMIN),
    (web.get("/v1/schedules", list_schedules), Permission.ADMIN),
    (web.get("/v1/schedules/{rule_id}", get_schedule), Permission.ADMIN),
    (web.delete("/v1/schedules/{rule_id}", delete_rule), Permission.ADMIN),
    (web.post("/v1/schedules/{rule_id}/pause", pause_schedule), Permission.ADMIN),
    (web.post("/v1/schedules/{rule_id}/resume", resume_schedule), Permission.ADMIN),
    (web.post("/v1/schedules/{rule_id}/trigger", trigger_schedule), Permission.ADMIN),
    (web.post("/v1/schedules/{rule_id}/backfill", backfill_schedule), Permission.ADMIN),
]
"""The rule and schedule routes (all: admin)."""

MODELS: list[type[BaseModel]] = [
    Rule,
    RuleView,
    RuleList,
    RuleFiring,
    FiringPage,
    BackfillRequest,
    ScheduleRun,
    Deleted,
]
"""The models :data:`PATHS` refers to."""

_RULE_ID_PARAMETER = [path_id("rule_id", RULE_ID_PATTERN)]


def _one(operation_id: str, summary: str, answer: type[BaseModel], **extra: Any) -> Any:
    return operation(
        operation_id,
        summary,
        {"200": json_answer(answer, "the answer")},
        (400, 404, 409, 422) if "requestBody" in extra else (404, 409, 422),
        parameters=_RULE_ID_PARAMETER,
        **extra,
    )


_RULE_LINKS = links(("getRule", "listRuleFirings", "deleteRule"), "rule_id")
_SCHEDULE_LINKS = links(
    (
        "getSchedule",
        "pauseSchedule",
        "resumeSchedule",
        "triggerSchedule",
        "backfillSchedule",
        "deleteSchedule",
    ),
    "rule_id",
)

PATHS: dict[str, Any] = {
    "/v1/rules": {
        "get": operation(
            "listRules", "List rules (admin)", {"200": json_answer(RuleList, "rules")}
        ),
        "post": operation(
            "createRule",
            "Add a rule: on a robot event, a queue length or a schedule, do submit (admin)",
            {"201": {**json_answer(RuleView, "the rule"), "links": _RULE_LINKS}},
            (400, 409, 422),
            requestBody=body(Rule),
        ),
    },
    "/v1/rules/{rule_id}": {
        "get": _one("getRule", "Get a rule (admin)", RuleView),
        "delete": _one("deleteRule", "Delete a rule added through the API (admin)", Deleted),
    },
    "/v1/rules/{rule_id}/firings": {
        "get": operation(
            "listRuleFirings",
            "A rule's firings, newest first (admin)",
            {"200": json_answer(FiringPage, "a page of firings")},
            (404, 422),
            parameters=[*_RULE_ID_PARAMETER, *query_parameters(FiringQuery)],
        ),
    },
    "/v1/schedules": {
        "get": operation(
            "listSchedules", "List schedules (admin)", {"200": json_answer(RuleList, "schedules")}
        ),
        "post": operation(
            "createSchedule",
            "Add a schedule: a rule whose 'on' is a schedule (admin)",
            {"201": {**json_answer(RuleView, "the schedule"), "links": _SCHEDULE_LINKS}},
            (400, 409, 422),
            requestBody=body(Rule),
        ),
    },
    "/v1/schedules/{rule_id}": {
        "get": _one("getSchedule", "Get a schedule with its cursor and counts (admin)", RuleView),
        "delete": _one("deleteSchedule", "Delete a schedule (admin)", Deleted),
    },
    "/v1/schedules/{rule_id}/pause": {
        "post": _one("pauseSchedule", "Pause a schedule (admin)", RuleView),
    },
    "/v1/schedules/{rule_id}/resume": {
        "post": _one("resumeSchedule", "Resume a schedule (admin)", RuleView),
    },
    "/v1/schedules/{rule_id}/trigger": {
        "post": _one("triggerSchedule", "Fire a schedule now (admin)", ScheduleRun),
    },
    "/v1/schedules/{rule_id}/backfill": {
        "post": _one(
            "backfillSchedule",
            "Fire a schedule's past slots in a range not fired yet (admin)",
            ScheduleRun,
            requestBody=body(BackfillRequest),
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
