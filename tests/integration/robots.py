"""Modules used by the integration tests, each misbehaving in one controlled way.

Behaviour switches live in files under ``ROBOFLEET_TEST_FLAGS`` so a test can change a
module's behaviour while its replicas run in other processes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from runtime import BadPayload, HealthState, Module, RetryableError
from runtime.builtin import Sleep


def _flag(name: str) -> bool:
    return (Path(os.environ.get("ROBOFLEET_TEST_FLAGS", "/tmp")) / name).exists()


class Crashing(Module):
    """Kills its own worker process on every robot."""

    types = ("crash",)

    async def run(self, robot, ctx):
        os._exit(1)


class Flaky(Module):
    """Fails attempts below ``payload.succeed_on`` with a retryable error."""

    types = ("flaky",)

    async def run(self, robot, ctx):
        if robot.attempt < robot.payload.get("succeed_on", 2):
            raise RetryableError(f"attempt {robot.attempt} failed on purpose")
        return {"attempt": robot.attempt}


class Picky(Module):
    """Rejects every payload as bad."""

    types = ("picky",)

    async def run(self, robot, ctx):
        raise BadPayload("payload.document is missing")


class Primary(Module):
    """Handles ``convert``; fails every robot while the ``primary-broken`` flag exists."""

    types = ("convert",)

    async def run(self, robot, ctx):
        if _flag("primary-broken"):
            raise RuntimeError("primary backend is down")
        return {"by": "primary"}


class Secondary(Module):
    """Also handles ``convert``, more slowly, always successfully."""

    types = ("convert",)

    async def run(self, robot, ctx):
        await asyncio.sleep(0.05)
        return {"by": "secondary"}


class Sickly(Module):
    """Works, but reports itself unhealthy while the ``sickly-unhealthy`` flag exists."""

    types = ("sickly",)

    def check_health(self):
        return HealthState.UNHEALTHY if _flag("sickly-unhealthy") else HealthState.HEALTHY

    async def run(self, robot, ctx):
        await asyncio.sleep(robot.payload.get("seconds", 0.05))
        return {"pid": os.getpid()}


class Slow(Module):
    """Sleeps ``payload.seconds`` and returns its process id."""

    types = ("slow",)

    async def run(self, robot, ctx):
        await asyncio.sleep(robot.payload.get("seconds", 1.0))
        return {"pid": os.getpid()}


class Unhealthy(Module):
    """Always reports unhealthy: registration must refuse it."""

    types = ("never",)

    def check_health(self):
        return False

    async def run(self, robot, ctx):
        return None


class Extra(Module):
    """Registered at run time by a test; returns its payload."""

    types = ("extra",)

    async def run(self, robot, ctx):
        return robot.payload


class Dawdler(Sleep):
    """The builtin ``sleep`` robot under its own type, for a module that autoscales
    (tests/integration/test_autoscaling.py) without sharing the ``sleep`` queue."""

    types = ("dawdle",)
