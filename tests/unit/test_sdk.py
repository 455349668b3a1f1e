import asyncio
import logging
import threading

import pytest

from runtime.errors import PermanentError
from runtime.models import HealthState, Robot
from runtime.sdk import Module, RobotContext, call_health, call_hook, call_run


def robot(**fields) -> Robot:
    defaults = {"id": "r1", "type": "greet", "payload": {"name": "Ada"}, "attempt": 2}
    return Robot(**{**defaults, **fields})


class AsyncGreeter(Module):
    types = ("greet",)

    async def run(self, robot, ctx):
        ctx.progress(0.5, "thinking")
        await asyncio.sleep(0)
        return {"hello": robot.payload["name"]}


class SyncGreeter(Module):
    types = ("greet",)

    def run(self, robot, ctx):
        ctx.progress(0.5, "from a thread")
        return {"hello": robot.payload["name"], "thread": threading.get_ident()}


class Refuses(Module):
    def run(self, robot, ctx):
        raise PermanentError("no such invoice")


class Answers(Module):
    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def check_health(self):
        return self.answer


class AsyncAnswers(Module):
    async def check_health(self):
        return "degraded"


async def test_call_run_async_module():
    seen = []
    r = robot()
    ctx = RobotContext(r, lambda *args: seen.append(args))
    assert await call_run(AsyncGreeter(), r, ctx) == {"hello": "Ada"}
    assert seen == [("r1", 2, 0.5, "thinking")]


async def test_call_run_sync_module_runs_off_the_event_loop_thread():
    seen = []
    r = robot()
    result = await call_run(SyncGreeter(), r, RobotContext(r, lambda *args: seen.append(args)))
    assert result["hello"] == "Ada"
    assert result["thread"] != threading.get_ident()
    assert seen == [("r1", 2, 0.5, "from a thread")]


async def test_call_run_propagates_module_errors():
    r = robot()
    with pytest.raises(PermanentError, match="no such invoice"):
        await call_run(Refuses(), r, RobotContext(r))


async def test_base_module_run_is_not_implemented():
    r = robot()
    with pytest.raises(NotImplementedError, match="Module"):
        await call_run(Module(), r, RobotContext(r))


def test_module_keeps_a_copy_of_its_options():
    options = {"lang": "deu"}
    module = Module(options)
    options["lang"] = "eng"
    assert module.options == {"lang": "deu"}
    assert Module().options == {}


@pytest.mark.parametrize(
    ("reported", "expected"), [(0.25, 0.25), (1.5, 1.0), (-0.2, 0.0), (1, 1.0), ("0.5", 0.5)]
)
def test_progress_clamps_and_calls_the_sink(reported, expected):
    seen = []
    ctx = RobotContext(robot(), lambda *args: seen.append(args))
    ctx.progress(reported, "step")
    assert seen == [("r1", 2, expected, "step")]
    assert isinstance(seen[0][2], float)


def test_progress_without_sink_is_harmless():
    RobotContext(robot()).progress(0.5)


def test_cancel_is_visible_to_the_module():
    ctx = RobotContext(robot())
    assert not ctx.cancelled
    ctx.cancel()
    assert ctx.cancelled


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (True, HealthState.HEALTHY),
        (False, HealthState.UNHEALTHY),
        (None, HealthState.UNHEALTHY),
        (HealthState.DEGRADED, HealthState.DEGRADED),
        (HealthState.UNHEALTHY, HealthState.UNHEALTHY),
        ("healthy", HealthState.HEALTHY),
        ("degraded", HealthState.DEGRADED),
        ("unhealthy", HealthState.UNHEALTHY),
    ],
)
async def test_call_health_maps_answers(answer, expected):
    assert await call_health(Answers(answer)) is expected


async def test_call_health_default_and_async_hooks():
    assert await call_health(Module()) is HealthState.HEALTHY
    assert await call_health(AsyncAnswers()) is HealthState.DEGRADED


async def test_call_health_rejects_unknown_string():
    with pytest.raises(ValueError):
        await call_health(Answers("fine, thanks"))


def test_call_hook_logs_instead_of_raising(caplog):
    class BadTeardown(Module):
        def teardown(self):
            raise RuntimeError("socket already closed")

    with caplog.at_level(logging.ERROR, logger="runtime.sdk"):
        call_hook(BadTeardown(), "teardown")
    assert "teardown hook failed" in caplog.text
    assert "socket already closed" in caplog.text
