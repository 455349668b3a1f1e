"""A robofleet on PostgreSQL, brought up like the session's SQLite one: ``robofleet up``.

Each fleet gets a database of its own on the test server (``ROBOFLEET_TEST_DATABASE_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``), dropped when it stops. Its Redis keys
carry a prefix of their own and are deleted at the end too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.integration.conftest import (
    REDIS_URL,
    Fleet,
    _flush_redis_prefix,
    robofleet_up,
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
    prefix = f"robofleet-test-pg-{uuid.uuid4().hex[:8]}:"
    env = {
        "ROBOFLEET_DATABASE_URL": dsn,  # empty: SQLite under the data dir
        "ROBOFLEET_REDIS_URL": REDIS_URL,
        "ROBOFLEET_REDIS_PREFIX": prefix,
    }
    try:
        with robofleet_up(data_dir, config, env) as fleet:
            yield fleet
    finally:
        _flush_redis_prefix(prefix)
        if dsn:
            drop_database(dsn)
