"""Helpers of the cache integration tests: a private redis-server, extra cache actors, reads."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from runtime.cache import robot_version
from runtime.config import Settings
from runtime.messages import CacheStatsSnapshot

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """A ``redis-server`` on a spare port that a test may kill and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Its URL (database 0; the server is this test's alone)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """Kill the server (SIGKILL: no goodbye to clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def client(self) -> Any:
        """A synchronous redis client of this server."""
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)


def cache_settings(redis_url: str | None) -> dict[str, Any]:
    """Settings of an extra cache actor: its own Redis key prefix."""
    prefix = f"robofleet-cachetest-{uuid.uuid4().hex[:8]}:"
    return Settings(redis_url=redis_url, redis_prefix=prefix).model_dump(mode="json")


def start_cache_actor(name: str, settings: dict[str, Any]) -> Any:
    """A second ``CacheHost`` actor (as on another node) under ``name``."""
    import ray

    from actors.ray.cache import RemoteCache, cache_options

    handle = RemoteCache.options(**cache_options("robofleet", name)).remote(settings)
    ray.get(handle.ready.remote(), timeout=60)
    return handle


def kill_actor(handle: Any) -> None:
    """Kill a test's actor for good."""
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:
        pass


class StoreVersions:
    """Reads a robot's version straight from the fleet's SQLite file (read-only)."""

    def __init__(self, db_path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)

    def version(self, robot_id: str) -> int:
        """The robot's version as the store holds it now."""
        row = self.conn.execute(
            "SELECT attempt, status FROM robots WHERE id = ?", (robot_id,)
        ).fetchone()
        assert row is not None, robot_id
        return robot_version(row[0], row[1])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


async def cache_stats(name: str = "cache") -> CacheStatsSnapshot:
    """``stats()`` of a cache actor."""
    import ray

    return await ray.get_actor(name, namespace="robofleet").stats.remote()


async def eventually(predicate: Any, timeout_s: float = 30.0) -> None:
    """Wait until an async predicate holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s}s")
