"""Robots and messages keep every value across the pickle Ray uses, on the cheap path."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from ray import cloudpickle

from runtime.models import Robot, RobotRequest, RobotStatus
from runtime.wire import WireMessage, trusted_model


def test_an_accepted_robot_is_the_robot_validation_would_build():
    request = RobotRequest.model_validate(
        {"type": "echo", "payload": {"n": 1}, "priority": 7, "idempotency_key": "k"}
    )
    fast = Robot.accepted("r1", request, 1_800_000_000.0)
    checked = Robot.model_validate(
        {
            **request.model_dump(),
            "id": "r1",
            "created_at": 1_800_000_000.0,
            "updated_at": 1_800_000_000.0,
        }
    )
    assert fast == checked
    assert fast.model_dump() == checked.model_dump()
    assert fast.status is RobotStatus.QUEUED


def test_a_robot_round_trips_with_its_changes_and_all_its_fields():
    robot = Robot(id="r2", type="echo", payload={"deep": [1, {"x": None}]})
    robot.status, robot.attempt, robot.error = RobotStatus.RUNNING, 2, "boom"
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        copy = loads(dumps(robot))
        assert copy == robot
        assert copy.status is RobotStatus.RUNNING
        assert copy.model_fields_set == set(Robot.model_fields)


def test_trusted_robots_share_one_set_of_fields_and_changes_stay_their_own():
    request = RobotRequest.model_validate({"type": "echo"})
    a, b = (pickle.loads(pickle.dumps(Robot.accepted(i, request, 1.0))) for i in ("a", "b"))
    assert a.model_fields_set is b.model_fields_set  # one set, not 1.2 kB per robot
    a.status, a.error = RobotStatus.RUNNING, "boom"
    assert b.status is RobotStatus.QUEUED and b.error is None
    assert a.model_fields_set == b.model_fields_set == set(Robot.model_fields)
    copy = a.model_copy(update={"attempt": 2})
    assert copy.model_fields_set is not a.model_fields_set
    assert copy.attempt == 2 and a.attempt == 1


def test_trusted_robots_keep_their_field_names_once_for_all_of_them():
    """A queued robot's own dict holds its values only: the orchestrator holds 100,000s."""
    import sys

    odd = Robot.__new__(Robot)  # a dict of another shape does not undo the sharing
    object.__setattr__(odd, "type", "echo")
    object.__setattr__(odd, "not_a_field", 1)
    request = RobotRequest.model_validate({"type": "echo"})
    robot = pickle.loads(pickle.dumps(Robot.accepted("a", request, 1.0)))
    plain = dict(robot.__dict__)
    assert sys.getsizeof(robot.__dict__) < sys.getsizeof(plain) / 2
    robot.status = RobotStatus.RUNNING  # still a dict of its own to change
    assert robot.__dict__ == {**plain, "status": RobotStatus.RUNNING}
    assert Robot.accepted("b", request, 1.0).status is RobotStatus.QUEUED


def test_a_trusted_model_needs_every_field():
    try:
        trusted_model(Robot, {"id": "r3"})
    except KeyError as exc:
        assert "type" in str(exc)
    else:
        raise AssertionError("a missing field must not pass")


@dataclass(slots=True)
class _Ping(WireMessage):
    name: str
    count: int = 0


@dataclass(slots=True, frozen=True)
class _Frozen(WireMessage):
    name: str


def test_a_message_pickles_as_its_fields():
    assert pickle.loads(pickle.dumps(_Ping("a", 3))) == _Ping("a", 3)
    assert pickle.loads(pickle.dumps(_Frozen("b"))) == _Frozen("b")
    assert _Ping("a").__reduce__() == (_Ping, ("a", 0))
