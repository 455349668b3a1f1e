import asyncio
import threading
import time

import pytest

from runtime.errors import ModuleRejected
from runtime.models import HealthState, ModuleSpec
from runtime.registry import validate_module
from runtime.sdk import Module

HERE = __name__  # "tests.unit.test_registry" when pytest runs from the repo root


class Healthy(Module):
    types = ("unit-a", "unit-b")

    def run(self, robot, ctx):
        return {}


class Degraded(Healthy):
    def check_health(self):
        return HealthState.DEGRADED


class NoTypes(Module):
    def run(self, robot, ctx):
        return {}


class NotAModule:
    types = ("unit-a",)


class HealthRaises(Healthy):
    torn_down = False

    def check_health(self):
        raise RuntimeError("disk is gone")

    def teardown(self):
        type(self).torn_down = True


class HealthFalse(Healthy):
    def check_health(self):
        return False


class HealthUnhealthy(Healthy):
    def check_health(self):
        return HealthState.UNHEALTHY


class HealthHangsAsync(Healthy):
    async def check_health(self):
        await asyncio.sleep(30)
        return True


class HealthHangsSync(Healthy):
    release = threading.Event()

    def check_health(self):
        self.release.wait(10)  # a blocking call, the way most module authors would write it
        return True


class SetupFails(Healthy):
    def setup(self):
        raise OSError("model file missing")


def spec(class_name: str, types=(), module_path: str = HERE) -> ModuleSpec:
    return ModuleSpec.model_validate(
        {"name": "unit-mod", "class": f"{module_path}:{class_name}", "types": list(types)}
    )


async def test_builtin_echo_is_accepted_with_its_types():
    accepted = await validate_module(spec("Echo", module_path="runtime.builtin"))
    assert accepted.types == ["echo"]
    assert accepted.class_path == "runtime.builtin:Echo"


async def test_test_module_is_importable_by_path():
    assert (await validate_module(spec("Healthy"))).types == ["unit-a", "unit-b"]


async def test_spec_types_subset_is_kept():
    assert (await validate_module(spec("Healthy", types=["unit-b"]))).types == ["unit-b"]


async def test_spec_types_the_class_does_not_handle_are_rejected():
    with pytest.raises(ModuleRejected, match="does not handle"):
        await validate_module(spec("Healthy", types=["unit-a", "other"]))


async def test_degraded_module_is_accepted():
    assert (await validate_module(spec("Degraded"))).types == ["unit-a", "unit-b"]


async def test_rejects_non_importable_module():
    with pytest.raises(ModuleRejected, match="cannot import"):
        await validate_module(spec("Echo", module_path="no_such_pkg_robofleet.mod"))


async def test_rejects_missing_class():
    with pytest.raises(ModuleRejected, match="no attribute 'Nope'"):
        await validate_module(spec("Nope", module_path="runtime.builtin"))


@pytest.mark.parametrize(
    ("module_path", "name"), [(HERE, "NotAModule"), ("runtime.registry", "validate_module")]
)
async def test_rejects_things_that_are_not_module_subclasses(module_path, name):
    with pytest.raises(ModuleRejected, match="not a subclass"):
        await validate_module(spec(name, module_path=module_path))


async def test_rejects_module_without_types():
    with pytest.raises(ModuleRejected, match="no robot types"):
        await validate_module(spec("NoTypes"))


async def test_rejects_module_whose_setup_fails():
    with pytest.raises(ModuleRejected, match="failed to start.*model file missing"):
        await validate_module(spec("SetupFails"))


async def test_rejects_module_whose_health_check_raises_and_still_tears_down():
    HealthRaises.torn_down = False
    with pytest.raises(ModuleRejected, match="disk is gone"):
        await validate_module(spec("HealthRaises"))
    assert HealthRaises.torn_down


@pytest.mark.parametrize("name", ["HealthFalse", "HealthUnhealthy"])
async def test_rejects_module_reporting_unhealthy(name):
    with pytest.raises(ModuleRejected, match="unhealthy"):
        await validate_module(spec(name))


async def test_rejects_async_health_check_that_hangs():
    started = time.monotonic()
    with pytest.raises(ModuleRejected, match="timed out"):
        await validate_module(spec("HealthHangsAsync"), timeout_s=0.1)
    assert time.monotonic() - started < 2.0


async def test_rejects_blocking_health_check_that_hangs():
    HealthHangsSync.release.clear()
    started = time.monotonic()
    try:
        with pytest.raises(ModuleRejected, match="timed out"):
            await validate_module(spec("HealthHangsSync"), timeout_s=0.1)
        assert time.monotonic() - started < 2.0
    finally:
        HealthHangsSync.release.set()  # let the abandoned worker thread finish
