"""The module SDK: the base class user automation code subclasses.

A module handles one or more robot types::

    from runtime import Module, RobotContext

    class Greeter(Module):
        types = ("greet",)

        async def run(self, robot, ctx: RobotContext):
            ctx.progress(0.5, "thinking")
            return {"hello": robot.payload["name"]}

``run`` may be ``async def`` or a plain function (then it runs in a thread).
Raise :class:`runtime.errors.PermanentError` (or ``BadPayload``) for a failure that no retry
can fix; any other exception is retried with backoff up to the robot's ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from runtime.models import HealthState, Robot

log = logging.getLogger(__name__)

ProgressSink = Callable[[str, int, float, str | None], None]


class RobotContext:
    """What a running robot can see of the runtime: progress reporting and cancellation."""

    def __init__(self, robot: Robot, sink: ProgressSink | None = None) -> None:
        self.robot_id = robot.id
        self.attempt = robot.attempt
        self._sink = sink
        self._cancelled = asyncio.Event()

    @property
    def cancelled(self) -> bool:
        """True once the robot has been asked to stop; a module should return soon after."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the robot to stop (called by the runtime)."""
        self._cancelled.set()

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the robot has come, 0..1, with an optional message.

        Cheap and non-blocking: reports are coalesced and sent in the background. Safe to
        call from a plain (threaded) ``run`` as well as from ``async def run``.
        """
        fraction = max(0.0, min(1.0, float(fraction)))
        if self._sink is not None:
            self._sink(self.robot_id, self.attempt, fraction, message)


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One value a module exports; the gateway's ``/metrics`` adds ``module`` and ``replica``."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    kind: Literal["counter", "gauge"] = "gauge"
    help: str = ""


class Module:
    """Base class of an automation module; override ``run`` and, if useful, the hooks."""

    types: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def setup(self) -> None:
        """Hook: prepare resources once per replica before the first robot (no-op)."""

    def teardown(self) -> None:
        """Hook: release resources when the replica stops (no-op)."""

    def check_health(self) -> bool | HealthState:
        """Hook: say whether this replica can take work; the default says yes."""
        return True

    def metrics(self) -> list[MetricSample]:
        """Hook: this replica's own metrics, exported as Prometheus metrics (none by default)."""
        return []

    def run(self, robot: Robot, ctx: RobotContext) -> Any | Awaitable[Any]:
        """Do the robot's work and return its JSON-serialisable result."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")


async def call_run(module: Module, robot: Robot, ctx: RobotContext) -> Any:
    """Run a module's ``run`` whether it is a coroutine function or a plain one."""
    if inspect.iscoroutinefunction(module.run):
        return await module.run(robot, ctx)
    return await asyncio.to_thread(module.run, robot, ctx)


async def call_health(module: Module) -> HealthState:
    """Run a module's ``check_health`` and map its answer to a :class:`HealthState`."""
    hook = module.check_health
    # A plain hook runs in a thread, like a plain run(): a blocking check must not stall the
    # event loop, or no timeout around this call could ever fire.
    if inspect.iscoroutinefunction(hook):
        answer = await hook()
    else:
        answer = await asyncio.to_thread(hook)
    if isinstance(answer, HealthState):
        return answer
    if isinstance(answer, str):
        return HealthState(answer)
    return HealthState.HEALTHY if answer else HealthState.UNHEALTHY


def call_metrics(module: Module) -> list[MetricSample]:
    """Run a module's ``metrics`` hook: its samples (float values, own labels); none on failure."""
    try:
        return [
            MetricSample(s.name, float(s.value), dict(s.labels), s.kind, s.help)
            for s in module.metrics()
        ]
    except Exception:
        log.exception("module %s: metrics hook failed", type(module).__name__)
        return []


def call_hook(module: Module, name: str) -> None:
    """Run a no-argument hook, logging instead of raising if it fails."""
    try:
        getattr(module, name)()
    except Exception:
        log.exception("module %s: %s hook failed", type(module).__name__, name)
