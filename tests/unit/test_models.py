import time
import types

import pytest
from pydantic import ValidationError

import runtime.models
from runtime.models import ModuleSpec, Robot, RobotRequest, RobotStatus, new_robot_id

# --- RobotRequest ----------------------------------------------------------------------------


def test_request_defaults():
    req = RobotRequest(type="echo")
    assert req.priority == 5 and req.max_attempts == 3 and req.payload == {}
    assert req.deadline is None and req.idempotency_key is None


@pytest.mark.parametrize("priority", [0, 9])
def test_request_accepts_priority_bounds(priority):
    assert RobotRequest(type="echo", priority=priority).priority == priority


@pytest.mark.parametrize("priority", [-1, 10, 100])
def test_request_rejects_priority_out_of_range(priority):
    with pytest.raises(ValidationError, match="priority"):
        RobotRequest(type="echo", priority=priority)


def test_request_rejects_unknown_fields():
    with pytest.raises(ValidationError, match="colour"):
        RobotRequest.model_validate({"type": "echo", "colour": "red"})


@pytest.mark.parametrize("robot_type", ["echo", "ocr.invoice:v2", "A-b_C", "x" * 128])
def test_request_accepts_robot_type_names(robot_type):
    assert RobotRequest(type=robot_type).type == robot_type


@pytest.mark.parametrize(
    "robot_type", ["", "has space", "a/b", "x" * 129, "echo\n", "ünï", "semi;colon"]
)
def test_request_rejects_bad_robot_type_names(robot_type):
    with pytest.raises(ValidationError, match="type"):
        RobotRequest(type=robot_type)


@pytest.mark.parametrize("max_attempts", [0, -1, 51])
def test_request_rejects_bad_max_attempts(max_attempts):
    with pytest.raises(ValidationError, match="max_attempts"):
        RobotRequest(type="echo", max_attempts=max_attempts)


@pytest.mark.parametrize("max_attempts", [1, 50])
def test_request_accepts_max_attempts_bounds(max_attempts):
    assert RobotRequest(type="echo", max_attempts=max_attempts).max_attempts == max_attempts


@pytest.mark.parametrize("timeout_s", [0, -1, 86_401])
def test_request_rejects_bad_timeout(timeout_s):
    with pytest.raises(ValidationError, match="timeout_s"):
        RobotRequest(type="echo", timeout_s=timeout_s)


def test_an_accepted_robot_is_queued_first_attempt():
    req = RobotRequest(type="echo", payload={"a": 1}, priority=7, deadline=123.0)
    robot = Robot.accepted("abc", req, time.time())
    assert robot.id == "abc" and robot.type == "echo" and robot.payload == {"a": 1}
    assert robot.priority == 7 and robot.deadline == 123.0
    assert robot.status is RobotStatus.QUEUED and robot.attempt == 1
    assert robot.created_at == robot.updated_at
    assert len(Robot.accepted(new_robot_id(), req, time.time()).id) == 24


# --- new_robot_id ----------------------------------------------------------------------------


def test_new_robot_id_is_24_hex_and_unique():
    ids = [new_robot_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for robot_id in ids:
        assert len(robot_id) == 24
        int(robot_id, 16)


def test_new_robot_id_sorts_by_creation_time(monkeypatch):
    # includes a step across a hex-digit boundary (0xfff ms -> 0x1000 ms)
    instants = iter([0.001, 0.255, 0.256, 4.095, 4.096, 1_700_000_000.0, 1_700_000_000.001])
    monkeypatch.setattr(runtime.models, "time", types.SimpleNamespace(time=lambda: next(instants)))
    ids = [new_robot_id() for _ in range(7)]
    assert sorted(ids) == ids


# --- ModuleSpec ------------------------------------------------------------------------------


def test_module_spec_accepts_class_alias():
    spec = ModuleSpec.model_validate({"name": "ocr", "class": "pkg.mod:Reader", "types": ["ocr"]})
    assert spec.class_path == "pkg.mod:Reader"
    assert spec.replicas == 1 and spec.max_concurrency == 4


def test_module_spec_accepts_field_name_too():
    spec = ModuleSpec(name="ocr", class_path="pkg.mod:Reader")
    assert spec.class_path == "pkg.mod:Reader"
    assert spec.model_dump(by_alias=True)["class"] == "pkg.mod:Reader"


@pytest.mark.parametrize("name", ["", "OCR", "-ocr", "_ocr", "has space", "a" * 64, "ocr/x"])
def test_module_spec_rejects_bad_names(name):
    with pytest.raises(ValidationError, match="name"):
        ModuleSpec.model_validate({"name": name, "class": "pkg.mod:Reader"})


@pytest.mark.parametrize("name", ["ocr", "0cr", "ocr-v2.1_x", "a" * 63])
def test_module_spec_accepts_good_names(name):
    assert ModuleSpec.model_validate({"name": name, "class": "pkg.mod:Reader"}).name == name


@pytest.mark.parametrize("class_path", ["pkg.mod", "pkg.mod:", ":Reader", "pkg mod:R", "p:1R"])
def test_module_spec_rejects_bad_class_paths(class_path):
    with pytest.raises(ValidationError, match="class"):
        ModuleSpec.model_validate({"name": "ocr", "class": class_path})


def test_module_spec_rejects_negative_resources():
    with pytest.raises(ValidationError, match="resources.GPU"):
        ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", "resources": {"GPU": -1}})
    spec = ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", "resources": {"GPU": 0.5}})
    assert spec.resources == {"GPU": 0.5}


def test_module_spec_rejects_bad_types_and_unknown_fields():
    with pytest.raises(ValidationError, match="types.0"):
        ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", "types": ["bad type"]})
    with pytest.raises(ValidationError, match="colour"):
        ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", "colour": "red"})


@pytest.mark.parametrize(("field", "value"), [("replicas", -1), ("max_concurrency", 0)])
def test_module_spec_rejects_bad_counts(field, value):
    with pytest.raises(ValidationError, match=field):
        ModuleSpec.model_validate({"name": "ocr", "class": "p.m:R", field: value})
