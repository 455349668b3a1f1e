"""A robofleet on PostgreSQL, brought up like the session's SQLite one: ``robofleet up``.

Each fleet gets a database of its own on the test server (``ROBOFLEET_TEST_DATABASE_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``), dropped when it stops. Its Redis keys
carry a prefix of their own and are deleted at the end too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.integration.conftest import (
    _ADMIN_KEY_LINE,
    REDIS_URL,
    ROOT,
    Fleet,
    _flush_redis_prefix,
    _wait_ready,
    free_port,
    service_missing,
)

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def server_dsn() -> str:
    """The DSN of the test PostgreSQL server's maintenance database."""
    return os.environ.get("ROBOFLEET_TEST_DATABASE_URL", DEFAULT_PG_DSN)


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(server_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database() -> str:
    """Create a fresh database on the test server and return its DSN; skip if unreachable."""
    name = f"robofleet_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        service_missing(f"PostgreSQL at {server_dsn()} is unreachable ({exc})")
    return _with_database(server_dsn(), name)


def drop_database(dsn: str) -> None:
    """Drop a database made by :func:`create_database` (its connections are ended)."""
    name = urlsplit(dsn).path.lstrip("/")
    with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def postgres_fleet(data_dir: Path, config: Path, sqlite: bool = False) -> Iterator[Fleet]:
    """Run ``robofleet up`` with ``config`` on a fresh PostgreSQL database; stop it after.

    With ``sqlite``, the fleet keeps its store in a SQLite file of its data dir instead.
    """
    dsn = "" if sqlite else create_database()
    flags = data_dir / "flags"
    flags.mkdir(parents=True, exist_ok=True)
    ray_port, dashboard_port, gateway_port = free_port(), free_port(), free_port()
    prefix = f"robofleet-test-pg-{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "ROBOFLEET_DATABASE_URL": dsn,  # empty: SQLite under the data dir
        "ROBOFLEET_RAY_PORT": str(ray_port),
        "ROBOFLEET_DASHBOARD_PORT": str(dashboard_port),
        "ROBOFLEET_GATEWAY_PORT": str(gateway_port),
        "ROBOFLEET_TEST_FLAGS": str(flags),
        "PYTHONPATH": str(ROOT),
        "ROBOFLEET_REDIS_URL": REDIS_URL,
        "ROBOFLEET_REDIS_PREFIX": prefix,
    }
    log_path = data_dir / "up.log"
    command = [sys.executable, "-m", "cluster.cli", "up", "--config", str(config)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        _wait_ready(url, process, log_path, timeout_s=240)
        printed = _ADMIN_KEY_LINE.search(log_path.read_text())
        assert printed, f"robofleet up printed no admin key:\n{log_path.read_text()[-2000:]}"
        yield Fleet(url, data_dir, flags, f"127.0.0.1:{ray_port}", process, log_path, printed[1])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
        _flush_redis_prefix(prefix)
        if dsn:
            drop_database(dsn)
