"""Rows, columns and write operations shared by the SQLite and PostgreSQL backends."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from runtime.errors import StoreDataError, StoreError
from runtime.keys import ApiKey, AuditEntry
from runtime.lifecycle import Transition
from runtime.messages import Progress
from runtime.models import Attempt, ModuleSpec, Robot, RobotStatus, RuleFiring
from runtime.route_record import decision_json
from runtime.rules.model import Rule, RuleRecord, ScheduleState
from runtime.store._outbox import delivery_row
from runtime.text import MAX_JSON_DEPTH, clean_text, json_problem

# (column, PostgreSQL array element type) in table order.
ROBOT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("type", "text"),
    ("payload", "text"),
    ("priority", "int4"),
    ("deadline", "float8"),
    ("idempotency_key", "text"),
    ("max_attempts", "int4"),
    ("timeout_s", "float8"),
    ("status", "text"),
    ("attempt", "int4"),
    ("module", "text"),
    ("replica", "text"),
    ("result", "text"),
    ("error", "text"),
    ("progress", "float8"),
    ("message", "text"),
    ("not_before", "float8"),
    ("created_at", "float8"),
    ("updated_at", "float8"),
    ("started_at", "float8"),
    ("finished_at", "float8"),
    ("parent_id", "text"),
    ("rule_id", "text"),
    ("children", "text"),
)
ROBOT_COLUMN_NAMES = tuple(name for name, _ in ROBOT_COLUMNS)
ROBOT_SELECT = ", ".join(ROBOT_COLUMN_NAMES)

# Columns a transition may set, with their PostgreSQL types; order fixes the bit of each.
MUTABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("module", "text"),
    ("replica", "text"),
    ("result", "text"),
    ("error", "text"),
    ("progress", "float8"),
    ("message", "text"),
    ("not_before", "float8"),
    ("started_at", "float8"),
    ("finished_at", "float8"),
    ("children", "text"),
    ("routing", "text"),
)
MUTABLE_COLUMN_NAMES = tuple(name for name, _ in MUTABLE_COLUMNS)
ID_INDEX = ROBOT_COLUMN_NAMES.index("id")
KEY_INDEX = ROBOT_COLUMN_NAMES.index("idempotency_key")
_FLOAT_COLUMNS = frozenset(n for n, t in ROBOT_COLUMNS if t == "float8")
# Text robofleet writes itself from what modules report: cleaned, never refused.
_WRITTEN_TEXT_COLUMNS = frozenset({"module", "replica", "error", "message"})

ATTEMPT_SELECT = "robot_id, attempt, module, replica, status, error, started_at, finished_at"


def routes_sql(first: str, second: str) -> str:
    """A robot's attempt routes, oldest first: finished attempts from ``attempts`` and the
    running one from the robot's row (its decision is copied to ``attempts`` when it ends).
    ``first`` and ``second`` are the backend's placeholders for the robot id."""
    return (
        "SELECT attempt, module, replica, status, started_at, finished_at, routing "
        f"FROM attempts WHERE robot_id = {first} UNION ALL "
        "SELECT attempt, module, replica, status, started_at, NULL, routing "
        f"FROM robots WHERE id = {second} AND status = '{RobotStatus.RUNNING.value}' "
        "ORDER BY attempt"
    )


UNFINISHED = (RobotStatus.QUEUED.value, RobotStatus.RUNNING.value)
RUNNING = RobotStatus.RUNNING.value


def dump_json(value: Any) -> str:
    """Serialise a JSON value to text with orjson.

    Raises :class:`StoreDataError` for a value orjson cannot write (too deep, an integer
    past 64 bits, a key that is not a string): only the item that carried it fails.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise StoreDataError(f"value is not JSON-serialisable: {exc}") from exc


def _encode(column: str, value: Any) -> Any:
    if column == "payload":
        return dump_json(value)
    if column == "status":
        return RobotStatus(value).value
    if column == "result":
        return None if value is None else _result_json(value)
    if column == "children":
        return dump_json(list(value)) if value else None
    if column in _FLOAT_COLUMNS and value is not None:
        return float(value)
    if column in _WRITTEN_TEXT_COLUMNS and value is not None:
        return clean_text(str(value))
    return value


def _result_json(value: Any) -> str:
    """A module's result as JSON text; StoreDataError if a reader could not read it back.

    orjson writes what it can (a NaN as ``null``, a datetime as text); what it wrote must
    then nest no deeper than the readers read (see :func:`runtime.text.json_problem`).
    """
    try:
        text = orjson.dumps(value)
    except TypeError as exc:
        raise StoreDataError(f"the result cannot be stored: {exc}") from None
    # A text this short cannot nest past the limit or hold too many values: most results.
    if len(text) <= 2 * MAX_JSON_DEPTH:
        return text.decode()
    problem = json_problem(orjson.loads(text), scalars=False)
    if problem is not None:
        raise StoreDataError(f"the result cannot be stored: {problem}")
    return text.decode()


def robot_row(robot: Robot) -> tuple[Any, ...]:
    """A robot as a tuple of column values in :data:`ROBOT_COLUMNS` order."""
    values = robot.model_dump(mode="python")
    return tuple(_encode(name, values[name]) for name in ROBOT_COLUMN_NAMES)


def robot_from_row(row: Sequence[Any]) -> Robot:
    """Rebuild a robot from a row selected with :data:`ROBOT_SELECT`."""
    values = dict(zip(ROBOT_COLUMN_NAMES, row, strict=True))
    values["payload"] = orjson.loads(values["payload"])
    if values["result"] is not None:
        values["result"] = orjson.loads(values["result"])
    values["children"] = orjson.loads(values["children"]) if values["children"] else []
    return Robot.model_validate(values)


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    """Rebuild an attempt from a row selected with :data:`ATTEMPT_SELECT`."""
    return Attempt.model_validate(dict(zip(ATTEMPT_SELECT.split(", "), row, strict=True)))


def module_from_text(spec: str) -> ModuleSpec:
    """Rebuild a module spec stored as JSON text."""
    return ModuleSpec.model_validate(orjson.loads(spec))


def module_to_text(spec: ModuleSpec) -> str:
    """A module spec as JSON text, with the ``class`` alias as registered."""
    return dump_json(spec.model_dump(mode="json", by_alias=True))


@dataclass(slots=True)
class EncodedTransition:
    """A transition with its field values encoded for the database."""

    robot_id: str
    attempt: int
    from_status: str
    to_status: str
    attempt_after: int
    at: float
    fields: dict[str, Any]
    child_rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Robots to insert in the same transaction, if and only if this transition applies."""
    firing_rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Rule firings to record likewise."""
    delivery_rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Outbox deliveries to insert likewise (``runtime.store._outbox.DELIVERY_COLUMNS``)."""

    @property
    def sets_error(self) -> bool:
        """Whether the transition writes ``error`` (else an attempt keeps the stored one)."""
        return "error" in self.fields

    @property
    def mask(self) -> int:
        """Bit ``i`` set when the transition writes ``MUTABLE_COLUMN_NAMES[i]``."""
        return sum(1 << i for i, name in enumerate(MUTABLE_COLUMN_NAMES) if name in self.fields)


def encode_transition(t: Transition) -> EncodedTransition:
    """Check a transition's fields and encode their values."""
    unknown = set(t.fields) - set(MUTABLE_COLUMN_NAMES)
    if unknown:
        raise StoreError(f"transition of {t.robot_id} sets unknown field(s) {sorted(unknown)}")
    fields = {name: _encode(name, value) for name, value in t.fields.items()}
    if t.routing is not None:
        fields["routing"] = decision_json(t.routing)
    return EncodedTransition(
        robot_id=t.robot_id,
        attempt=t.attempt,
        from_status=t.from_status.value,
        to_status=t.to_status.value,
        attempt_after=t.attempt_after,
        at=float(t.at),
        fields=fields,
        child_rows=[robot_row(child) for child in t.children],
        firing_rows=[firing_row(firing) for firing in t.firings],
        delivery_rows=[delivery_row(delivery) for delivery in t.deliveries],
    )


@dataclass(slots=True)
class CreateRobots:
    """Write operation: insert robots unless their id or idempotency key is stored."""

    rows: list[tuple[Any, ...]]
    robots: list[Robot]
    audit: list[tuple[Any, ...] | None]
    """Per robot, the audit row to write if (and only if) this operation inserts it."""


@dataclass(slots=True)
class ApplyTransitions:
    """Write operation: apply conditional transitions in order."""

    transitions: list[EncodedTransition]


@dataclass(slots=True)
class SaveProgress:
    """Write operation: record the progress of running attempts."""

    updates: list[Progress]


WriteOp = CreateRobots | ApplyTransitions | SaveProgress


def latest_progress(updates: Sequence[Progress]) -> list[Progress]:
    """Keep only the newest update of each robot attempt, in first-seen order, storable.

    The message is cleaned (see :func:`runtime.text.clean_text`) and the fraction kept
    within 0..1 (a NaN becomes 0).
    """
    newest: dict[tuple[str, int], Progress] = {}
    for update in updates:
        newest[(update.robot_id, update.attempt)] = update
    return [_storable_progress(update) for update in newest.values()]


def _storable_progress(update: Progress) -> Progress:
    fraction = update.fraction if math.isfinite(update.fraction) else 0.0
    fraction = min(1.0, max(0.0, fraction))
    message = None if update.message is None else clean_text(update.message)
    if fraction == update.fraction and message == update.message:
        return update
    return Progress(update.robot_id, update.attempt, fraction, message)


def pick_stored(
    rows: Sequence[tuple[Any, ...]], by_id: Mapping[str, Robot], by_key: Mapping[str, Robot]
) -> list[Robot]:
    """For each submitted row, the stored robot with its id, else with its idempotency key."""
    stored: list[Robot] = []
    for row in rows:
        robot_id, key = row[ID_INDEX], row[KEY_INDEX]
        robot = by_id.get(robot_id) or (by_key.get(key) if key is not None else None)
        if robot is None:
            raise StoreError(f"robot {robot_id} was neither inserted nor found")
        stored.append(robot)
    return stored


KEY_COLUMN_NAMES = (
    "id",
    "key_hash",
    "role",
    "modules",
    "name",
    "created_at",
    "expires_at",
    "revoked_at",
    "rotated_from",
    "overlap_until",
)
KEY_SELECT = ", ".join(KEY_COLUMN_NAMES)
AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("at", "float8"),
    ("request_id", "text"),
    ("actor", "text"),
    ("client", "text"),
    ("action", "text"),
    ("target", "text"),
    ("outcome", "text"),
    ("status", "int4"),
    ("detail", "text"),
)
AUDIT_COLUMN_NAMES = tuple(name for name, _ in AUDIT_COLUMNS)
AUDIT_SELECT = ", ".join(AUDIT_COLUMN_NAMES)


def key_row(key: ApiKey) -> tuple[Any, ...]:
    """A key record as a tuple in :data:`KEY_COLUMN_NAMES` order (modules as JSON text)."""
    values = key.model_dump(mode="json")
    values["modules"] = None if key.modules is None else dump_json(key.modules)
    return tuple(values[name] for name in KEY_COLUMN_NAMES)


def key_from_row(row: Sequence[Any]) -> ApiKey:
    """Rebuild a key record from a row selected with :data:`KEY_SELECT`."""
    values = dict(zip(KEY_COLUMN_NAMES, row, strict=True))
    if values["modules"] is not None:
        values["modules"] = orjson.loads(values["modules"])
    return ApiKey.model_validate(values)


def audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    """An audit entry as a tuple in :data:`AUDIT_COLUMN_NAMES` order, its texts cleaned.

    Audit fields echo requests (a path, a target id, a refusal's message), so any of them
    may hold what the store cannot: it is replaced (see :func:`runtime.text.clean_text`),
    and the entry is written rather than refused.
    """
    return (
        clean_text(entry.id),
        float(entry.at),
        clean_text(entry.request_id),
        clean_text(entry.actor),
        _clean_optional(entry.client),
        clean_text(entry.action),
        _clean_optional(entry.target),
        clean_text(entry.outcome),
        entry.status,
        _clean_optional(entry.detail),
    )


def _clean_optional(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def audit_from_row(row: Sequence[Any]) -> AuditEntry:
    """Rebuild an audit entry from a row selected with :data:`AUDIT_SELECT`."""
    return AuditEntry.model_validate(dict(zip(AUDIT_COLUMN_NAMES, row, strict=True)))


FIRING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("rule_id", "text"),
    ("at", "float8"),
    ("source", "text"),
    ("outcome", "text"),
    ("robot_id", "text"),
    ("detail", "text"),
)
FIRING_COLUMN_NAMES = tuple(name for name, _ in FIRING_COLUMNS)
FIRING_SELECT = ", ".join(FIRING_COLUMN_NAMES)


def firing_row(firing: RuleFiring) -> tuple[Any, ...]:
    """A rule firing as a tuple in :data:`FIRING_COLUMN_NAMES` order, its texts cleaned."""
    return (
        firing.id,
        firing.rule_id,
        float(firing.at),
        clean_text(firing.source),
        firing.outcome.value,
        firing.robot_id,
        _clean_optional(firing.detail),
    )


def firing_from_row(row: Sequence[Any]) -> RuleFiring:
    """Rebuild a rule firing from a row selected with :data:`FIRING_SELECT`."""
    return RuleFiring.model_validate(dict(zip(FIRING_COLUMN_NAMES, row, strict=True)))


RULE_COLUMN_NAMES = (
    "id",
    "spec",
    "origin",
    "created_at",
    "paused",
    "decided_until",
    "buffered_slot",
    "version",
    "fired",
    "skipped",
)
RULE_SELECT = ", ".join(RULE_COLUMN_NAMES)
STATE_COLUMN_NAMES = ("paused", "decided_until", "buffered_slot", "fired", "skipped")


def rule_row(record: RuleRecord) -> tuple[Any, ...]:
    """A rule record as a tuple in :data:`RULE_COLUMN_NAMES` order."""
    state = record.state
    return (
        record.rule.id,
        dump_json(record.rule.model_dump(mode="json", exclude_none=True)),
        record.origin,
        float(record.created_at),
        1 if state.paused else 0,
        state.decided_until,
        state.buffered_slot,
        state.version,
        state.fired,
        dump_json(state.skipped),
    )


def state_row(state: ScheduleState) -> tuple[Any, ...]:
    """A schedule state's columns in :data:`STATE_COLUMN_NAMES` order."""
    return (
        1 if state.paused else 0,
        state.decided_until,
        state.buffered_slot,
        state.fired,
        dump_json(state.skipped),
    )


def rule_from_row(row: Sequence[Any]) -> RuleRecord:
    """Rebuild a rule record from a row selected with :data:`RULE_SELECT`."""
    values = dict(zip(RULE_COLUMN_NAMES, row, strict=True))
    return RuleRecord(
        rule=Rule.model_validate(orjson.loads(values["spec"])),
        origin=values["origin"],
        created_at=values["created_at"],
        state=ScheduleState(
            paused=bool(values["paused"]),
            decided_until=values["decided_until"],
            buffered_slot=values["buffered_slot"],
            version=values["version"],
            fired=values["fired"],
            skipped=orjson.loads(values["skipped"]),
        ),
    )
