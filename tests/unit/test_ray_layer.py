"""The Ray layer's pure parts, without a Ray cluster: options and error unwrapping."""

from __future__ import annotations

import asyncio

import pytest
from ray.exceptions import RayTaskError

from actors.ray.cache import cache_options
from actors.ray.common import HEAD_NODE_RESOURCE, NamedActorClient, robofleet_errors
from actors.ray.documents import documents_options
from actors.ray.email_monitor import email_monitor_options
from actors.ray.notifier import notifier_options
from actors.ray.orchestrator import orchestrator_options
from actors.ray.replica import CONTROL_SLOTS, replica_options
from runtime.errors import ModuleExists, RobofleetError
from runtime.models import ModuleSpec


def _task_error(cause: BaseException) -> BaseException:
    return RayTaskError(
        "method", "Traceback (most recent call last):\n", cause
    ).as_instanceof_cause()


def test_a_robofleet_error_from_an_actor_is_raised_as_itself():
    with pytest.raises(ModuleExists) as raised:
        with robofleet_errors():
            raise _task_error(ModuleExists("module 'echo' exists"))
    assert type(raised.value) is ModuleExists
    assert str(raised.value) == "module 'echo' exists"


def test_other_actor_errors_pass_unchanged():
    with pytest.raises(RayTaskError) as raised:
        with robofleet_errors():
            raise _task_error(KeyError("x"))
    assert not isinstance(raised.value, RobofleetError)


def test_head_only_actors_are_named_detached_and_pinned_to_the_head():
    for options in (
        orchestrator_options("ns"),
        cache_options("ns"),
        documents_options("ns"),
        notifier_options("ns"),
        email_monitor_options("ns"),
    ):
        assert options["namespace"] == "ns" and options["lifetime"] == "detached"
        assert options["max_restarts"] == -1 and options["num_cpus"] == 0
        assert HEAD_NODE_RESOURCE in options["resources"]
    assert cache_options("ns", "cache-b")["name"] == "cache-b"
    assert cache_options("ns")["max_task_retries"] == 0  # a late caller reads the store
    assert orchestrator_options("ns")["max_task_retries"] == -1  # retried while it restarts
    assert notifier_options("ns")["name"] == "notifier"
    assert email_monitor_options("ns")["max_task_retries"] == 0  # an add must not run twice


def test_replica_options_map_the_spec_resources():
    spec = ModuleSpec.model_validate(
        {
            "name": "ocr",
            "class": "a.b:C",
            "max_concurrency": 2,
            "resources": {"num_cpus": 1, "GPU": 0.5, "ocr": 1},
        }
    )
    options = replica_options(spec, "ocr:0", "ns")
    assert options["num_cpus"] == 1 and options["num_gpus"] == 0.5
    assert options["resources"] == {"ocr": 1}
    assert options["max_concurrency"] == 2 + CONTROL_SLOTS
    assert options["scheduling_strategy"] == "SPREAD"
    pinned = replica_options(spec, "ocr:0", "ns", node_id="ab" * 28)
    assert pinned["scheduling_strategy"].node_id == "ab" * 28


class _Method:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    async def _run(self, *args: object) -> object:
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == "hang":
            await asyncio.sleep(60)
        return (self.answer, args)

    def remote(self, *args: object) -> object:
        return self._run(*args)


class _FakeHandle:
    """Stands in for a Ray actor handle: each method answers what ``answers`` says."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers

    def __getattr__(self, method: str) -> _Method:
        return _Method(self.answers[method])


async def test_a_named_actor_client_keeps_its_handle_while_calls_succeed():
    client = NamedActorClient("thing", "ns", timeout_s=1.0)
    handle = _FakeHandle(echo="ok")
    client._handle = handle
    assert await client._call("echo", 1, 2) == ("ok", (1, 2))
    assert client._handle is handle


async def test_a_named_actor_client_raises_robofleet_errors_as_themselves_and_looks_up_again():
    client = NamedActorClient("thing", "ns", timeout_s=1.0)
    client._handle = _FakeHandle(add=_task_error(ModuleExists("module 'echo' exists")))
    with pytest.raises(ModuleExists):
        await client._call("add")
    assert client._handle is None  # the next call looks the actor up by name again


async def test_a_named_actor_client_times_out_and_looks_up_again():
    client = NamedActorClient("thing", "ns", timeout_s=0.05)
    client._handle = _FakeHandle(slow="hang")
    with pytest.raises(TimeoutError):
        await client._call("slow")
    assert client._handle is None


async def test_without_its_own_timeout_a_callers_timeout_keeps_the_handle():
    client = NamedActorClient("cache", "ns", timeout_s=None)
    handle = _FakeHandle(slow="hang", echo="ok")
    client._handle = handle
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client._call("slow"), 0.05)
    assert client._handle is handle  # the actor may just be restarting
    assert await client._call("echo") == ("ok", ())
