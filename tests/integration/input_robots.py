"""A module whose reports and errors hold characters the store cannot hold (a NUL).

robofleet cleans what it writes itself, so its robots still end with a readable reason.
"""

from __future__ import annotations

import asyncio

from runtime import Module, PermanentError


class NulReporter(Module):
    """``nul.fail``: reports progress with a NUL, then fails with a NUL in its reason;
    ``nul.crash``: raises a plain exception with a NUL; ``nul.progress``: reports a NUL
    and succeeds."""

    types = ("nul.fail", "nul.crash", "nul.progress")

    async def run(self, robot, ctx):
        ctx.progress(0.5, "half\x00way")
        await asyncio.sleep(robot.payload.get("seconds", 0.3))
        if robot.type == "nul.fail":
            raise PermanentError("bad\x00byte in the input")
        if robot.type == "nul.crash":
            raise RuntimeError("crashed\x00here")
        return {"done": True}
