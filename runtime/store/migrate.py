"""The migration runner shared by both backends: apply ``migrations/NNNN_name.sql`` once each."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import MigrationError
from runtime.store._errors import is_unavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# The runner needs this table before it can read which versions are applied.
BOOTSTRAP_SQL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)
APPLIED_SQL = "SELECT version FROM schema_migrations"

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned migration file, split into statements."""

    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """Split a migration file into statements, dropping ``--`` comment lines."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return tuple(s.strip() for s in "\n".join(lines).split(";") if s.strip())


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in ``directory``, in version order."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], split_statements(path.read_text())))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


async def apply_migrations(
    execute: Callable[[str], Awaitable[object]],
    applied_versions: Callable[[], Awaitable[Iterable[int]]],
    migrations: Iterable[Migration] | None = None,
) -> list[int]:
    """Apply pending migrations through ``execute``; return the versions applied.

    The caller runs this inside one transaction that holds the database's migration lock,
    so two processes opening the store at once apply each version once.
    """
    await execute(BOOTSTRAP_SQL)
    done = set(await applied_versions())
    applied: list[int] = []
    for migration in migrations if migrations is not None else load_migrations():
        if migration.version in done:
            continue
        try:
            for statement in migration.statements:
                await execute(statement)
            await execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                f"({migration.version:d}, '{migration.name}', {time.time()!r})"
            )
        except Exception as exc:
            if is_unavailable(exc):
                raise
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied
