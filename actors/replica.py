"""The module replica host: one user module instance with ``max_concurrency`` slots."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from runtime.errors import is_retryable
from runtime.messages import Dispatch, Outcome, OutcomeKind, Progress, ReplicaPing
from runtime.models import HealthState, ModuleSpec, Robot
from runtime.registry import load_module_class
from runtime.sdk import MetricSample, RobotContext, call_health, call_hook, call_metrics, call_run

log = logging.getLogger(__name__)

ProgressFlush = Callable[[list[Progress]], None]
"""Where a replica sends its coalesced progress reports (one call for many robots)."""

MAX_ERROR_CHARS = 2000


class ReplicaHost:
    """Runs robots on one module instance; its reply carries each robot's :class:`Outcome`.

    Progress reports are coalesced per robot and flushed every ``progress_interval_s``
    through ``flush_progress`` (one call for many robots).
    """

    def __init__(
        self,
        spec: dict[str, Any],
        replica_name: str,
        flush_progress: ProgressFlush | None = None,
        progress_interval_s: float = 0.25,
    ) -> None:
        self.spec = ModuleSpec.model_validate(spec)
        self.name = replica_name
        self.module = load_module_class(self.spec.class_path)(self.spec.options)
        self.module.setup()
        self._flush_progress = flush_progress
        self._progress_interval_s = progress_interval_s
        self._progress: dict[str, Progress] = {}
        self._contexts: dict[str, RobotContext] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.runs: dict[str, int] = dict.fromkeys((k.value for k in OutcomeKind), 0)
        """Attempts this replica ran since it started, by how they ended (an ``OutcomeKind``)."""
        self.health: HealthState | None = None
        """What the module said of its health at the last check (None before any)."""

    @property
    def in_flight(self) -> int:
        """Robots running in this replica now."""
        return len(self._contexts)

    def __repr__(self) -> str:
        """Live state for the Ray dashboard's Repr column and logs.

        E.g. ``module:sleep:0(in_flight=3/16 health=healthy runs=120)``.
        """
        health = self.health.value if self.health is not None else "unchecked"
        return (
            f"{self.name}(in_flight={self.in_flight}/{self.spec.max_concurrency} "
            f"health={health} runs={sum(self.runs.values())})"
        )

    def ping(self) -> ReplicaPing:
        """Identify the replica: its name, process id and robots in progress (no node)."""
        return ReplicaPing(self.name, os.getpid(), len(self._contexts))

    async def run_batch(self, dispatch: Dispatch) -> list[Outcome]:
        """Run the dispatched robots concurrently; return one outcome per robot, in order."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        return list(await asyncio.gather(*(self._run_one(r) for r in dispatch.robots)))

    async def check_health(self) -> HealthState:
        """Ask the module whether it can take work."""
        self.health = await call_health(self.module)
        return self.health

    def module_metrics(self) -> list[MetricSample]:
        """The module's own metric samples (its ``metrics()`` hook); none if the hook fails."""
        return call_metrics(self.module)

    def cancel(self, robot_id: str) -> bool:
        """Ask a running robot to stop; False if it is not running here."""
        ctx = self._contexts.get(robot_id)
        if ctx is None:
            return False
        ctx.cancel()
        return True

    def shutdown(self) -> None:
        """Run the module's teardown hook."""
        call_hook(self.module, "teardown")

    async def _run_one(self, robot: Robot) -> Outcome:
        ctx = RobotContext(robot, self._note_progress)
        self._contexts[robot.id] = ctx
        started = time.monotonic()
        kind, result, error, retryable = OutcomeKind.SUCCEEDED, None, None, True
        try:
            result = await asyncio.wait_for(call_run(self.module, robot, ctx), robot.timeout_s)
            if ctx.cancelled:
                kind, result, error = OutcomeKind.CANCELLED, None, "cancelled by request"
        except TimeoutError:
            kind, error = OutcomeKind.TIMED_OUT, f"timed out after {robot.timeout_s:g}s"
        except Exception as exc:
            kind, retryable = OutcomeKind.FAILED, is_retryable(exc)
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        finally:
            self._contexts.pop(robot.id, None)
            self._progress.pop(robot.id, None)
        self.runs[kind.value] += 1
        return Outcome(
            robot.id, robot.attempt, kind, time.monotonic() - started, result, error, retryable
        )

    def _note_progress(self, robot_id: str, attempt: int, fraction: float, msg: str | None) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._note_progress, robot_id, attempt, fraction, msg)
            return
        if robot_id not in self._contexts:
            return
        self._progress[robot_id] = Progress(robot_id, attempt, fraction, msg)
        if self._flush_progress is not None and self._flusher is None:
            self._flusher = self._loop.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._progress_interval_s)
            batch, self._progress = list(self._progress.values()), {}
            if batch and self._flush_progress is not None:
                self._flush_progress(batch)
        except Exception:
            log.exception("replica %s: progress flush failed", self.name)
        finally:
            self._flusher = None
