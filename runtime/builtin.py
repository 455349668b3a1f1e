"""Built-in modules deployed by default: ``echo`` and ``sleep``."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.errors import BadPayload
from runtime.models import Robot
from runtime.sdk import Module, RobotContext


class Echo(Module):
    """Returns the robot's payload as its result."""

    types = ("echo",)

    async def run(self, robot: Robot, ctx: RobotContext) -> Any:
        """Echo the payload back."""
        return robot.payload


class Sleep(Module):
    """Sleeps ``payload.seconds`` (default 0.1), reporting progress in up to ten steps."""

    types = ("sleep",)

    async def run(self, robot: Robot, ctx: RobotContext) -> Any:
        """Sleep in steps, honouring cancellation between them."""
        seconds = robot.payload.get("seconds", 0.1)
        if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
            raise BadPayload("payload.seconds must be a number between 0 and 3600")
        steps = 10 if seconds >= 1 else 1
        for step in range(steps):
            if ctx.cancelled:
                return {"slept": seconds * step / steps, "cancelled": True}
            await asyncio.sleep(seconds / steps)
            if steps > 1:
                ctx.progress((step + 1) / steps, f"slept {step + 1}/{steps}")
        return {"slept": seconds}
