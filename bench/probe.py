"""Counting robots by status straight from the store: the cheapest correct end-to-end wait."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Protocol

COUNT_SQL = "SELECT status, count(*) FROM robots WHERE type = {p} GROUP BY status"


class StoreProbe(Protocol):
    """Counts robots of one type by status."""

    async def counts(self, robot_type: str) -> dict[str, int]:
        """Robots of ``robot_type`` per status."""

    async def close(self) -> None:
        """Release the connection."""


class SqliteProbe:
    """Reads the SQLite store file (WAL: readers never block robofleet's writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _count(self, robot_type: str) -> dict[str, int]:
        if self._conn is None:
            uri = f"file:{self.path}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)
        rows = self._conn.execute(COUNT_SQL.format(p="?"), (robot_type,)).fetchall()
        return {status: n for status, n in rows}

    async def counts(self, robot_type: str) -> dict[str, int]:
        """Robots of ``robot_type`` per status."""
        return await asyncio.to_thread(self._count, robot_type)

    async def close(self) -> None:
        """Close the read connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresProbe:
    """Reads the PostgreSQL store (the DSN carries the schema as ``search_path``)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn = None

    async def counts(self, robot_type: str) -> dict[str, int]:
        """Robots of ``robot_type`` per status."""
        import asyncpg

        if self._conn is None:
            self._conn = await asyncpg.connect(self.dsn, timeout=10)
        rows = await self._conn.fetch(COUNT_SQL.format(p="$1"), robot_type)
        return {row[0]: row[1] for row in rows}

    async def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def probe_for(store: str) -> StoreProbe:
    """A probe for a store locator: a ``postgresql://`` DSN, else a SQLite file path."""
    if store.startswith(("postgresql://", "postgres://")):
        return PostgresProbe(store)
    return SqliteProbe(Path(store))
