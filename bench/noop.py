"""A no-op module for benchmarks: handles whatever types its spec names and returns at once.

Used with ``replicas = 0`` as the ``bench-hold`` module, so submitted robots stay queued and
the submit scenario measures the accept path alone; as the ``bench-drain`` module of the
dispatch scenario; and as the scaling module when the harness drives a robofleet it did not
start.
"""

from __future__ import annotations

from typing import Any

from runtime.models import Robot
from runtime.sdk import Module, RobotContext


class NoOp(Module):
    """Returns ``None`` without looking at the payload."""

    types = ()

    async def run(self, robot: Robot, ctx: RobotContext) -> Any:
        """Do nothing."""
        return None
