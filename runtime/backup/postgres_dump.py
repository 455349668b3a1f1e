"""PostgreSQL backups: ``pg_dump`` in custom format, restored with ``pg_restore``.

The robot counts of the manifest are read in the very snapshot the dump is taken from
(``pg_export_snapshot`` + ``pg_dump --snapshot``), so they describe exactly the dump.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from runtime.backup.pg_tools import (
    database_name,
    find_tool,
    mask_dsn,
    run_tool,
    run_tool_async,
    split_password,
    with_database,
)
from runtime.backup.sqlite_snapshot import StoreFigures
from runtime.errors import BackupError, BackupInvalid, RestoreRefused

DUMP_NAME = "robofleet.dump"
_FIGURES_SQL = "SELECT status, COUNT(*) FROM robots GROUP BY status"
_VERSION_SQL = "SELECT MAX(version) FROM schema_migrations"
_BTREE_INDEXES = (
    "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree' "
    "AND c.relnamespace = 'public'::regnamespace"
)


@contextlib.asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[Any]:
    """An asyncpg connection; :class:`BackupError` (DSN masked) when it cannot be made."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        raise BackupError(f"cannot connect to {mask_dsn(dsn)}: {exc}") from exc
    try:
        yield conn
    finally:
        await conn.close()


async def read_figures(conn: Any) -> StoreFigures:
    """Schema version and robot counts by status of a robofleet PostgreSQL database."""
    try:
        version = await conn.fetchval(_VERSION_SQL)
        rows = await conn.fetch(_FIGURES_SQL)
    except asyncpg.PostgresError as exc:
        raise BackupInvalid(f"not a robofleet store: {exc}") from exc
    return StoreFigures(int(version or 0), {str(r[0]): int(r[1]) for r in rows})


async def dump_postgres(dsn: str, out_dir: Path, bin_dir: Path | None = None) -> StoreFigures:
    """Dump the database of ``dsn`` into ``out_dir/robofleet.dump``; return its figures.

    Raises :class:`BackupError` when the database cannot be reached or pg_dump fails.
    """
    pg_dump = find_tool("pg_dump", bin_dir)
    bare, password = split_password(dsn)
    async with connected(dsn) as conn:
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                found = await read_figures(conn)
                await run_tool_async(
                    [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-password",
                     f"--file={out_dir / DUMP_NAME}", f"--dbname={bare}"],
                    password,
                )
        except asyncpg.PostgresError as exc:
            raise BackupError(f"dump of {mask_dsn(dsn)} failed: {exc}") from exc
    return found


async def database_has_robots(dsn: str) -> bool | None:
    """Whether a database holds robots or API keys; None when it does not exist."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        return None
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        raise BackupError(f"cannot connect to {mask_dsn(dsn)}: {exc}") from exc
    try:
        tables = await conn.fetchval(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename IN ('robots', 'api_keys')"
        )
        if not tables:
            return False
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM robots) OR EXISTS (SELECT 1 FROM api_keys)"
            )
        )
    except asyncpg.PostgresError:
        return True  # something is there that is not a store robofleet can read: keep it
    finally:
        await conn.close()


async def _other_connections(dsn: str) -> int:
    async with connected(dsn) as conn:
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


async def create_database(server_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_dsn``; return its DSN."""
    async with connected(server_dsn) as conn:
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.PostgresError as exc:
            raise BackupError(f"cannot create database {name}: {exc}") from exc
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    """Drop database ``name`` on the server of ``server_dsn`` (no error if it is gone)."""
    with contextlib.suppress(BackupError, asyncpg.PostgresError):
        async with connected(server_dsn) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_restore(dump: Path, dsn: str, clean: bool, bin_dir: Path | None = None) -> None:
    """Load a custom-format dump into the database of ``dsn`` (``clean``: drop what is there)."""
    bare, password = split_password(dsn)
    args = [find_tool("pg_restore", bin_dir), "--no-owner", "--no-privileges",
            "--exit-on-error", "--no-password", f"--dbname={bare}"]
    if clean:
        args += ["--clean", "--if-exists"]
    run_tool([*args, str(dump)], password)


async def restore_postgres(
    dump: Path, dsn: str, force: bool, bin_dir: Path | None = None
) -> StoreFigures:
    """Restore a dump into the database of ``dsn``, creating it when it does not exist.

    Raises :class:`~runtime.errors.RestoreRefused` when it holds robots or keys and
    ``force`` is false, and whenever another connection uses it, ``force`` or not: a running
    robofleet's gateways keep finished robots in memory, and would go on serving robots the
    restore replaced.
    """
    state = await database_has_robots(dsn)
    if state is not None:
        users = await _other_connections(dsn)
        if users:
            raise RestoreRefused(
                f"database {mask_dsn(dsn)} is in use ({users} other connections: a robofleet "
                "running on it?): stop it first; --force does not replace a store in use"
            )
    if state is None:
        await create_database(with_database(dsn, "postgres"), database_name(dsn))
    elif state and not force:
        raise RestoreRefused(
            f"database {mask_dsn(dsn)} is not empty: restore into a fresh database, or add "
            "--force to replace what it holds"
        )
    pg_restore(dump, dsn, clean=bool(state), bin_dir=bin_dir)
    async with connected(dsn) as conn:
        return await read_figures(conn)


async def prove_dump(
    dump: Path, server_dsn: str, bin_dir: Path | None = None
) -> tuple[StoreFigures, list[str]]:
    """Restore a dump into a scratch database, check it, drop it; return figures and checks.

    Checks: pg_restore succeeds, every robot row reads, and ``amcheck``'s ``bt_index_check``
    (with ``heapallindexed``) passes on each B-tree index when the extension is available.
    Raises :class:`BackupInvalid` when the dump does not restore or a check fails.
    """
    name = f"robofleet_verify_{uuid.uuid4().hex[:12]}"
    scratch = await create_database(with_database(server_dsn, "postgres"), name)
    checks: list[str] = []
    try:
        try:
            pg_restore(dump, scratch, clean=False, bin_dir=bin_dir)
        except BackupError as exc:
            raise BackupInvalid(f"the dump does not restore: {exc}") from exc
        checks.append(f"pg_restore into scratch database {name}: ok")
        async with connected(scratch) as conn:
            found = await read_figures(conn)
            await conn.fetchval("SELECT COUNT(*) FROM (SELECT * FROM robots) AS every_row")
            checks.append("every robot row reads: ok")
            checks.append(await _amcheck(conn))
    finally:
        await drop_database(with_database(server_dsn, "postgres"), name)
    return found, checks


async def _amcheck(conn: Any) -> str:
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    except asyncpg.PostgresError as exc:
        return f"amcheck: not available ({exc})"
    indexes = [r[0] for r in await conn.fetch(_BTREE_INDEXES)]
    for index in indexes:
        try:
            await conn.execute("SELECT bt_index_check($1::regclass, true)", index)
        except asyncpg.PostgresError as exc:
            raise BackupInvalid(f"amcheck finds index {index} corrupt: {exc}") from exc
    return f"amcheck bt_index_check(heapallindexed) on {len(indexes)} indexes: ok"
