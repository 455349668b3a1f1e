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
from runtime.models import ModuleSpec, Robot
from runtime.registry import load_module_class
from runtime.sdk import RobotContext, call_health, call_hook, call_metrics, call_run

log = logging.getLogger(__name__)

ProgressFlush = Callable[[list[tuple[str, int, float, str | None]]], None]

MAX_ERROR_CHARS = 2000


class ReplicaHost:
    """Runs robots on one module instance; its reply carries each robot's outcome.

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
        self._progress: dict[str, tuple[str, int, float, str | None]] = {}
        self._contexts: dict[str, RobotContext] = {}
        self._flusher: asyncio.Task | None = None

    def ping(self) -> dict[str, Any]:
        """Identify the replica: its name, process id and robots in progress."""
        return {"name": self.name, "pid": os.getpid(), "in_flight": len(self._contexts)}

    async def run_batch(self, robots: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run robots concurrently; return one outcome dict per robot, in order."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        return list(await asyncio.gather(*(self._run_one(Robot.model_validate(r)) for r in robots)))

    async def check_health(self) -> str:
        """Ask the module whether it can take work."""
        return (await call_health(self.module)).value

    def module_metrics(self) -> list[dict[str, Any]]:
        """The module's own metric samples (its ``metrics()`` hook), as plain dicts."""
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

    async def _run_one(self, robot: Robot) -> dict[str, Any]:
        ctx = RobotContext(robot, self._note_progress)
        self._contexts[robot.id] = ctx
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(call_run(self.module, robot, ctx), robot.timeout_s)
            outcome = {"ok": True, "result": result}
            if ctx.cancelled:
                outcome = {"ok": False, "cancelled": True, "error": "cancelled by request"}
        except TimeoutError:
            outcome = {
                "ok": False,
                "retryable": True,
                "timeout": True,
                "error": f"timed out after {robot.timeout_s:g}s",
            }
        except Exception as exc:
            outcome = {
                "ok": False,
                "retryable": is_retryable(exc),
                "error": f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS],
            }
        finally:
            self._contexts.pop(robot.id, None)
            self._progress.pop(robot.id, None)
        outcome.update(id=robot.id, attempt=robot.attempt, seconds=time.monotonic() - started)
        return outcome

    def _note_progress(self, robot_id: str, attempt: int, fraction: float, msg: str | None) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._note_progress, robot_id, attempt, fraction, msg)
            return
        if robot_id not in self._contexts:
            return
        self._progress[robot_id] = (robot_id, attempt, fraction, msg)
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
