"""What the queue peers (Celery, dramatiq, arq) share: their Redis database, their worker
subprocesses and the figures of a run.

Each peer uses a Redis database of its own (Celery 5, dramatiq 6, arq 7), flushed before and
after its run, and starts its workers with :class:`Workers`: subprocesses of the peer's own
CLI, in the repository with ``PYTHONPATH`` set so they import ``bench.*``, logging to one
temporary file that is shown when a worker fails to start and removed afterwards.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.fleet import ROOT, pythonpath

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def installed(modules: Sequence[str]) -> bool:
    """Whether every module in ``modules`` (a peer's ``MODULES``) imports."""
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        return False
    return True


def redis_url(env: str, database: int) -> str:
    """The peer's Redis URL: ``$env`` or database ``database`` of the local Redis."""
    return os.environ.get(env, f"redis://127.0.0.1:6379/{database}")


def flush(url: str) -> None:
    """Empty the peer's Redis database (``FLUSHDB``); raises ``redis.RedisError`` if down."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_missing(url: str) -> str | None:
    """Why the peer cannot run on ``url`` (Redis does not answer PING), or None."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {url} unreachable ({exc})"
    finally:
        client.close()
    return None


class Workers:
    """Worker subprocesses of one peer run, stopped (SIGTERM, then SIGKILL) on exit.

    ``commands`` are argument lists run from the repository root with ``env`` added to this
    process's environment; all of them append to one log file (:meth:`log`).
    """

    def __init__(self, name: str, commands: Sequence[Sequence[str]], env: Mapping[str, str]):
        self.name = name
        self.commands = [list(c) for c in commands]
        self.env = {**os.environ, **env, "PYTHONPATH": pythonpath()}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_path = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])

    def __enter__(self) -> Workers:
        try:
            for command in self.commands:
                with self.log_path.open("a") as log:
                    self.processes.append(
                        subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
                    )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def log(self) -> str:
        """What the workers wrote so far (stdout and stderr, interleaved)."""
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> float:
        """Poll ``ready`` until true; return the seconds it took.

        Raises RuntimeError, with the end of the log, if a worker exits or ``timeout_s`` passes.
        """
        started = time.perf_counter()
        while not ready():
            waited = time.perf_counter() - started
            if any(p.poll() is not None for p in self.processes) or waited > timeout_s:
                raise RuntimeError(f"{self.name} workers did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return time.perf_counter() - started

    def stop(self) -> None:
        """SIGTERM every worker still running, SIGKILL those not gone in 30 s; drop the log."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log_path.unlink(missing_ok=True)


def figures(
    tasks: int,
    succeeded: int,
    worker_processes: int,
    start_s: float,
    submit_s: float,
    elapsed_s: float,
) -> dict[str, Any]:
    """A peer's result dict: tasks/s is succeeded tasks over first send to last result."""
    return {
        "tasks": tasks,
        "succeeded": succeeded,
        "worker_processes": worker_processes,
        "worker_start_s": round(start_s, 2),
        "elapsed_s": round(elapsed_s, 3),
        "tasks_per_s": round(succeeded / elapsed_s, 1),
        "submit_elapsed_s": round(submit_s, 3),
        "submit_per_s": round(tasks / submit_s, 1),
    }
