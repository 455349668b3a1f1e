"""What the store can hold: checked on input, cleaned in what robofleet writes itself."""

from __future__ import annotations

import math

import orjson
import pytest
from pydantic import ValidationError

from gateway.schemas import AuditQuery, KeyCreate, RobotListQuery
from runtime.errors import StoreDataError
from runtime.keys import AuditEntry
from runtime.lifecycle import Transition
from runtime.messages import Progress
from runtime.models import ModuleSpec, RobotRequest, RobotStatus
from runtime.store import _codec
from runtime.text import (
    INT_MAX,
    INT_MIN,
    MAX_JSON_DEPTH,
    MAX_UNIX_TIME,
    clean_text,
    json_problem,
    text_problem,
)

UNSTORABLE = ["\x00", "a\x00b", "\ud800", "x\udcffy", "ok\x00\udfff"]


@pytest.mark.parametrize("text", UNSTORABLE)
def test_text_the_store_cannot_hold_has_a_problem_and_is_cleaned(text):
    assert text_problem(text) is not None
    cleaned = clean_text(text)
    assert text_problem(cleaned) is None
    assert len(cleaned) == len(text) and "\ufffd" in cleaned
    cleaned.encode("utf-8")  # and it is valid UTF-8 now


@pytest.mark.parametrize("text", ["", "plain", "ünïcödé ✓ 😀", "tab\tnew\nline", "\ufffd"])
def test_text_the_store_holds_is_left_alone(text):
    assert text_problem(text) is None
    assert clean_text(text) is text


def nested(depth: int) -> dict:
    value: object = 1
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    return {"k": value}


@pytest.mark.parametrize("depth", [1, 2, MAX_JSON_DEPTH])
def test_json_up_to_the_depth_limit_is_storable(depth):
    assert json_problem(nested(depth)) is None
    orjson.loads(orjson.dumps({"robots": [{"payload": nested(depth)}]}))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 254, 1023, 50_000])
def test_json_past_the_depth_limit_is_refused_without_recursion(depth):
    assert json_problem(nested(depth)) == f"it is nested deeper than {MAX_JSON_DEPTH} levels"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"a\x00": 1}, "a key contains a NUL"),
        ({"a": ["x", "y\x00"]}, "a string contains a NUL"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"a": math.nan}, "not finite"),
        ({"a": [math.inf]}, "not finite"),
        ({"a": -math.inf}, "not finite"),
        ({"a": INT_MAX + 1}, "64-bit"),
        ({"a": INT_MIN - 1}, "64-bit"),
        ({"a": object()}, "not JSON"),
        ({1: "a"}, "key is not a string"),
    ],
)
def test_json_values_the_store_or_a_reader_cannot_take_are_named(value, says):
    problem = json_problem(value)
    assert problem is not None and says in problem


def test_json_within_every_bound_passes():
    value = {"int": INT_MAX, "neg": INT_MIN, "f": 1.5e308, "s": "ü", "b": True, "n": None}
    assert json_problem(value) is None


def test_json_with_too_many_values_is_refused():
    assert json_problem({"a": list(range(10))}, max_values=5) is not None
    assert json_problem({"a": list(range(3))}, max_values=5) is None


def test_structure_only_check_lets_scalars_through():
    assert json_problem({"a": "\x00", "b": math.nan}, scalars=False) is None
    assert json_problem(nested(MAX_JSON_DEPTH + 1), scalars=False) is not None


# --- models: every input field ----------------------------------------------------------


@pytest.mark.parametrize(
    "deadline", ["NaN", "nan", "inf", "-Infinity", math.nan, math.inf, -math.inf, 1e999, -1.0]
)
def test_a_deadline_must_be_a_finite_time(deadline):
    with pytest.raises(ValidationError, match="deadline"):
        RobotRequest.model_validate({"type": "echo", "deadline": deadline})


def test_a_deadline_past_the_year_9999_is_refused_and_one_before_is_kept():
    with pytest.raises(ValidationError, match="deadline"):
        RobotRequest(type="echo", deadline=MAX_UNIX_TIME + 1)
    assert RobotRequest(type="echo", deadline=MAX_UNIX_TIME).deadline == MAX_UNIX_TIME
    assert RobotRequest(type="echo", deadline=5).deadline == 5.0


@pytest.mark.parametrize("timeout_s", ["NaN", math.nan, math.inf])
def test_a_timeout_must_be_finite(timeout_s):
    with pytest.raises(ValidationError, match="timeout_s"):
        RobotRequest.model_validate({"type": "echo", "timeout_s": timeout_s})


@pytest.mark.parametrize(
    "fields",
    [
        {"idempotency_key": "a\x00b"},
        {"idempotency_key": "\udcff"},
        {"payload": {"a\x00": 1}},
        {"payload": {"a": {"b": ["\x00"]}}},
        {"payload": {"a": math.nan}},
        {"payload": nested(MAX_JSON_DEPTH + 1)},
        {"type": "a\x00b"},
    ],
)
def test_a_robot_request_with_unstorable_input_is_refused(fields):
    with pytest.raises(ValidationError) as caught:
        RobotRequest.model_validate({"type": "echo", **fields})
    assert next(iter(fields)) in str(caught.value)


def test_a_robot_request_at_the_limits_is_accepted():
    request = RobotRequest(type="echo", payload=nested(MAX_JSON_DEPTH), idempotency_key="k ü")
    assert request.payload == nested(MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    "fields",
    [
        {"options": {"a\x00": 1}},
        {"options": {"a": math.nan}},
        {"options": nested(MAX_JSON_DEPTH + 1)},
        {"resources": {"GPU": math.nan}},
        {"resources": {"GPU": math.inf}},
        {"resources": {"G\x00PU": 1}},
        {"types": ["a\x00"]},
        {"name": "a\x00"},
    ],
)
def test_a_module_spec_with_unstorable_input_is_refused(fields):
    with pytest.raises(ValidationError):
        ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", **fields})


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (KeyCreate, {"role": "viewer", "name": "a\x00b"}),
        (KeyCreate, {"role": "viewer", "modules": ["a\x00b"]}),
        (KeyCreate, {"role": "viewer", "expires_in_s": "NaN"}),
        (RobotListQuery, {"type": "a\x00b"}),
        (RobotListQuery, {"cursor": "a\x00b"}),
        (AuditQuery, {"actor": "a\x00b"}),
        (AuditQuery, {"cursor": "a\x00b"}),
    ],
)
def test_gateway_bodies_and_queries_refuse_unstorable_text(model, fields):
    with pytest.raises(ValidationError):
        model.model_validate(fields)


# --- the codec cleans what robofleet writes itself ----------------------------------------


def test_a_module_error_and_message_with_a_nul_are_cleaned_for_the_store():
    transition = Transition(
        "r1",
        1,
        RobotStatus.RUNNING,
        RobotStatus.FAILED,
        fields={"error": "bad\x00byte", "message": "half\x00way", "finished_at": 10.0},
    )
    encoded = _codec.encode_transition(transition)
    assert encoded.fields["error"] == "bad\ufffdbyte"
    assert encoded.fields["message"] == "half\ufffdway"


def test_a_result_no_reader_could_read_back_is_a_data_error():
    too_deep = Transition(
        "r1", 1, RobotStatus.RUNNING, RobotStatus.SUCCEEDED, fields={"result": nested(65)}
    )
    with pytest.raises(StoreDataError, match="nested deeper"):
        _codec.encode_transition(too_deep)
    fine = Transition(
        "r1",
        1,
        RobotStatus.RUNNING,
        RobotStatus.SUCCEEDED,
        fields={"result": {"nan": math.nan, "nul": "a\x00b"}},
    )
    assert orjson.loads(_codec.encode_transition(fine).fields["result"]) == {
        "nan": None,
        "nul": "a\x00b",
    }


def test_progress_is_stored_cleaned_and_within_zero_and_one():
    updates = [
        Progress("r1", 1, 0.2, "old"),
        Progress("r1", 1, math.nan, "new\x00"),
        Progress("r2", 1, 7.0, None),
    ]
    assert _codec.latest_progress(updates) == [
        Progress("r1", 1, 0.0, "new\ufffd"),
        Progress("r2", 1, 1.0, None),
    ]


def test_an_audit_entry_echoing_a_nul_is_written_cleaned():
    entry = AuditEntry(
        id="e1",
        at=1.0,
        request_id="q",
        actor="anonymous",
        client="127.0.0.1",
        action="POST /v1/nowhere/a\x00",
        target="a\x00b",
        outcome="unauthenticated",
        status=401,
        detail="no robot 'a\x00b'",
    )
    row = _codec.audit_row(entry)
    assert all("\x00" not in value for value in row if isinstance(value, str))
    assert row[_codec.AUDIT_COLUMN_NAMES.index("target")] == "a\ufffdb"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (RobotRequest, {"type": "echo", "priority": True}),
        (RobotRequest, {"type": "echo", "max_attempts": "3"}),
        (RobotRequest, {"type": "echo", "timeout_s": False}),
        (RobotRequest, {"type": "echo", "deadline": "5"}),
        (KeyCreate, {"role": "viewer", "expires_in_s": True}),
        (ModuleSpec, {"name": "a", "class": "p.m:R", "replicas": False}),
    ],
)
def test_a_number_in_a_body_is_a_json_number_not_a_boolean_or_text(model, fields):
    with pytest.raises(ValidationError):
        model.model_validate(fields)


def test_an_admin_key_limited_to_modules_is_refused_by_the_model_and_its_schema():
    with pytest.raises(ValidationError, match="admin key cannot be limited"):
        KeyCreate.model_validate({"role": "admin", "modules": ["echo"]})
    schema = KeyCreate.model_json_schema()
    assert schema["then"] == {"properties": {"modules": {"type": "null"}}}


def test_an_integer_written_as_a_whole_number_float_is_an_integer_as_json_schema_says():
    assert RobotRequest.model_validate({"type": "echo", "priority": 7.0}).priority == 7
    with pytest.raises(ValidationError):
        RobotRequest.model_validate({"type": "echo", "priority": 7.5})
