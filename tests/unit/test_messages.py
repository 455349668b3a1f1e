"""Every message actors exchange survives the serialisation Ray uses (``ray.cloudpickle``).

The message classes are discovered from ``runtime.messages`` (every dataclass defined there,
and every model it exports), and each is built from its own type hints with realistic
values, so a message added later is covered without touching this file; a field of a type
this file cannot fill fails :func:`test_every_message_can_be_built` with what to add.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from ray import cloudpickle

from runtime import errors, messages
from runtime.errors import QueueFull, RobofleetError
from runtime.messages import SubmitAnswer
from runtime.models import Robot, RobotStatus

NOW = 1_764_500_000.25

ROBOT = Robot(
    id="019ad4c7b2e1a3f5c8d90b12",
    type="ocr.invoice",
    payload={"document": "s3://inbox/2025/11/inv-4471.pdf", "pages": [1, 2]},
    priority=7,
    deadline=NOW + 600,
    idempotency_key="inv-4471",
    max_attempts=5,
    timeout_s=120.0,
    status=RobotStatus.RUNNING,
    attempt=2,
    module="ocr",
    replica="module:ocr:1",
    progress=0.4,
    message="page 2 of 5",
    created_at=NOW - 30,
    updated_at=NOW,
    started_at=NOW - 4.5,
)

# Values by field name first (what the field means), then by type (what it holds).
BY_FIELD: dict[str, Any] = {
    "id": ROBOT.id,
    "robot_id": ROBOT.id,
    "request_id": "5f1c0a9e7d3b2a41",
    "actor": "key:ops-dashboard",
    "client": "203.0.113.7",
    "action": "robot.submit",
    "name": "module:ocr:1",
    "class_path": "runtime.ocr.modules:InvoiceModule",
    "types": ["ocr.invoice", "ocr.receipt"],
    "message": "page 3 of 5",
    "error": "TimeoutError: engine did not answer in 30 s",
    "fraction": 0.6,
    "seconds": 4.75,
    "node_id": "5e3c2a1f0b9d8c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a",
    "pid": 48213,
    "breaker": "half_open",
    "performance": 0.83,
    "unplaceable": "no node has 2 GPU free",
}
BY_TYPE: dict[Any, Any] = {
    str: "ocr.invoice",
    int: 3,
    float: 2.5,
    bytes: b'{"id":"019ad4c7b2e1a3f5c8d90b12","status":"succeeded","attempt":2}',
    Any: {"invoice": "INV-4471", "total": 1290.5, "currency": "EUR", "lines": 14},
    Robot: ROBOT,
    RobofleetError: QueueFull("queue of 'ocr.invoice' holds 10000 robots", 2.5),
}


def message_classes() -> list[type]:
    """Every dataclass defined in ``runtime.messages`` and every model it exports."""
    found = {
        obj
        for obj in vars(messages).values()
        if inspect.isclass(obj)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == messages.__name__
    }
    for name in messages.__all__:
        obj = getattr(messages, name)
        if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or issubclass(obj, BaseModel)):
            found.add(obj)
    return sorted(found, key=lambda cls: cls.__name__)


def _fields(cls: type) -> list[tuple[str, Any, Any]]:
    """(name, type hint, default or MISSING) of each field of a dataclass or model."""
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls)]
    assert issubclass(cls, BaseModel)
    return [
        (name, hints[name], dataclasses.MISSING if info.is_required() else info.default)
        for name, info in cls.model_fields.items()
    ]


def sample(hint: Any, field: str = "", default: Any = dataclasses.MISSING) -> Any:
    """A realistic value for a field; differs from the field's default where it can."""
    if field in BY_FIELD and hint not in (bool,):
        value = BY_FIELD[field]
        if _fits(value, hint):
            return value
    if hint is bool:
        return not default if isinstance(default, bool) else True
    if hint in BY_TYPE:
        return BY_TYPE[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), field)
    if origin is list:
        return [sample(args[0], field), sample(args[0], field)]
    if origin is dict:
        return {sample(args[0]): sample(args[1])}
    if inspect.isclass(hint) and issubclass(hint, enum.Enum):
        members = [m for m in hint if m != default]
        return members[-1]
    if inspect.isclass(hint) and (dataclasses.is_dataclass(hint) or issubclass(hint, BaseModel)):
        return build(hint)
    raise LookupError(f"no sample value for {field}: {hint!r}; add one to BY_FIELD or BY_TYPE")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def build(cls: type) -> Any:
    """An instance of a message class with a realistic value in every field."""
    return cls(**{name: sample(hint, name, default) for name, hint, default in _fields(cls)})


def same(a: Any, b: Any) -> bool:
    """Equality that also holds for errors, which compare by identity."""
    if isinstance(a, BaseException):
        return type(a) is type(b) and a.args == b.args and vars(a) == vars(b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def round_trip(value: Any) -> Any:
    """What the far side of a Ray call receives."""
    return cloudpickle.loads(cloudpickle.dumps(value))


MESSAGES = message_classes()


def test_the_walk_finds_the_messages():
    names = {cls.__name__ for cls in MESSAGES}
    assert {"SubmitRequest", "SubmitAnswer", "Dispatch", "Outcome", "Progress"} <= names
    assert {"CancelAnswer", "ModuleInfo", "ReplicaInfo"} <= names


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_every_message_can_be_built(cls):
    message = build(cls)
    assert isinstance(message, cls)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_every_message_survives_ray_serialisation(cls):
    message = build(cls)
    copy = round_trip(message)
    assert copy is not message
    assert same(copy, message), f"{copy!r} != {message!r}"


@pytest.mark.parametrize(
    "cls", [c for c in MESSAGES if c.__module__ == messages.__name__], ids=lambda c: c.__name__
)
def test_every_message_is_a_slotted_dataclass_in_all(cls):
    assert dataclasses.is_dataclass(cls)
    assert "__slots__" in vars(cls), "messages are slotted: cheaper to build and pickle"
    assert cls.__name__ in messages.__all__
    assert cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(")


@pytest.mark.parametrize("kind", list(messages.OutcomeKind))
def test_outcome_kinds_survive_ray_serialisation(kind):
    assert round_trip(kind) is kind


def test_a_refused_submit_keeps_its_queue_full_error():
    answer = SubmitAnswer(
        id=ROBOT.id,
        status=RobotStatus.QUEUED,
        created=False,
        error=QueueFull("queue of 'ocr.invoice' holds 10000 robots", 2.5),
    )
    copy = round_trip(answer)
    assert type(copy.error) is QueueFull
    assert copy.error.message == "queue of 'ocr.invoice' holds 10000 robots"
    assert str(copy.error) == copy.error.message
    assert copy.error.retry_after_s == 2.5
    assert copy.error.code == "queue_full" and copy.error.http_status == 429
    assert (copy.id, copy.created, copy.status) == (ROBOT.id, False, RobotStatus.QUEUED)


def test_a_dispatch_carries_its_robots_whole():
    queued = ROBOT.model_copy(update={"id": "019ad4c7b2e1a3f5c8d90b13", "attempt": 1})
    dispatch = messages.Dispatch(robots=[ROBOT, queued])
    copy = round_trip(dispatch)
    assert copy.robots == [ROBOT, queued]
    assert copy.robots[0].payload == {
        "document": "s3://inbox/2025/11/inv-4471.pdf",
        "pages": [1, 2],
    }


def _error_classes(root: type[RobofleetError] = RobofleetError) -> list[type[RobofleetError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _error_classes(sub)
    return found


ERRORS = sorted(
    {cls for cls in _error_classes() if cls.__module__ == errors.__name__},
    key=lambda cls: cls.__name__,
)


def test_the_error_walk_finds_the_tree():
    names = {cls.__name__ for cls in ERRORS}
    assert {"RobofleetError", "QueueFull", "RobotNotFound", "NotCancellable", "BadPayload"} <= names
    declared = {
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == errors.__name__
    }
    assert declared == set(ERRORS), "every error class of runtime.errors derives from the root"


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_survives_ray_serialisation(cls):
    original = cls("robot 019ad4c7b2e1a3f5c8d90b12 is already succeeded")
    copy = round_trip(original)
    assert same(copy, original)
    assert copy.message == original.message and str(copy) == str(original)
    assert (copy.code, copy.http_status, copy.retry_after_s) == (
        cls.code,
        cls.http_status,
        original.retry_after_s,
    )


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_survives_inside_a_message(cls):
    answer = SubmitAnswer(id=ROBOT.id, created=False, error=cls("refused"))
    assert same(round_trip(answer), answer)


def test_the_samples_are_not_all_defaults():
    outcome = build(messages.Outcome)
    assert outcome.retryable is False  # the default is True: the sample flips it
    assert outcome.result == BY_TYPE[Any]
