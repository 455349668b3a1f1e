"""Modules of the multi-node tests; each returns the node it ran on."""

from __future__ import annotations

import asyncio

import ray

from runtime import Module


def _node() -> str:
    return ray.get_runtime_context().get_node_id()


class Anywhere(Module):
    """Runs on any node."""

    types = ("anywhere",)

    async def run(self, robot, ctx):
        return {"node": _node()}


class NeedsOcr(Module):
    """Needs the custom ``ocr`` resource."""

    types = ("needs.ocr",)

    async def run(self, robot, ctx):
        return {"node": _node()}


class PoolWork(Module):
    """Needs the custom ``pool`` resource; sleeps ``payload.seconds``."""

    types = ("pool.work",)

    async def run(self, robot, ctx):
        await asyncio.sleep(robot.payload.get("seconds", 0.2))
        return {"node": _node()}
