"""The state store: SQLite by default, PostgreSQL when a database URL is configured."""

from __future__ import annotations

from runtime.config import Settings
from runtime.store._writes import write_isolated
from runtime.store.base import AuditPage, RobotPage, RobotStore
from runtime.store.group_commit import GroupCommit
from runtime.store.postgres import PostgresStore
from runtime.store.sqlite import SqliteStore

__all__ = [
    "AuditPage",
    "GroupCommit",
    "PostgresStore",
    "RobotPage",
    "RobotStore",
    "SqliteStore",
    "create_store",
    "open_store",
    "write_isolated",
]

SQLITE_FILE_NAME = "robofleet.db"


def create_store(settings: Settings) -> RobotStore:
    """Build the configured store without connecting: PostgreSQL if ``database_url`` is set."""
    if settings.database_url:
        return PostgresStore(
            settings.database_url, statement_cache_size=settings.database_statement_cache_size
        )
    data_dir = settings.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(data_dir / SQLITE_FILE_NAME, synchronous=settings.sqlite_synchronous)


async def open_store(settings: Settings) -> RobotStore:
    """Build the configured store, connect it and apply pending migrations."""
    store = create_store(settings)
    await store.open()
    return store
