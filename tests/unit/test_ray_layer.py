"""The Ray layer's pure parts, without a Ray cluster: options and error unwrapping."""

from __future__ import annotations

import pytest
from ray.exceptions import RayTaskError

from actors.ray.cache import cache_options
from actors.ray.common import HEAD_NODE_RESOURCE, robofleet_errors
from actors.ray.documents import documents_options
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
    ):
        assert options["namespace"] == "ns" and options["lifetime"] == "detached"
        assert options["max_restarts"] == -1 and options["num_cpus"] == 0
        assert HEAD_NODE_RESOURCE in options["resources"]
    assert cache_options("ns", "cache-b")["name"] == "cache-b"
    assert cache_options("ns")["max_task_retries"] == 0  # a late caller reads the store


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
