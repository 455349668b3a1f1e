"""Keyset paging, newest first: ``list_robots`` and ``list_audit`` of both stores.

A page is the rows whose ``id`` sorts below the cursor (the last id of the previous page),
ordered by ``id`` descending. One row more than the limit is read: its presence says a next
page exists, and the cursor of that page is the last id shown. Ids sort by creation time.
"""

from __future__ import annotations

from runtime.keys import AuditEntry
from runtime.models import Robot, RobotStatus
from runtime.store import _codec as c
from runtime.store._pages import (
    Placeholder,
    SqlTables,
    cut_page,
    page_query,
    postgres_placeholder,
    sqlite_placeholder,
)
from runtime.store.base import AuditPage, RobotPage

__all__ = [
    "KeysetPages",
    "Placeholder",
    "cut_page",
    "page_query",
    "postgres_placeholder",
    "sqlite_placeholder",
]


class KeysetPages(SqlTables):
    """Mixin: ``list_robots`` and ``list_audit`` of a store, over :func:`page_query`.

    A backend sets ``_placeholder`` and implements ``_page_rows`` (run a query, return rows).
    """

    async def list_robots(
        self,
        status: RobotStatus | None = None,
        robot_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RobotPage:
        """List robots newest first, filtered, with keyset pagination on the id.

        Raises ValueError when ``limit`` is below 1.
        """
        filters = [("status", status.value if status else None), ("type", robot_type)]
        sql, params = page_query(
            c.ROBOT_SELECT, "robots", filters, cursor, limit, self._placeholder
        )
        robots: list[Robot]
        robots, next_cursor = cut_page(await self._page_rows(sql, params), limit, c.robot_from_row)
        return RobotPage(robots, next_cursor)

    async def list_audit(
        self, limit: int = 50, cursor: str | None = None, actor: str | None = None
    ) -> AuditPage:
        """Audit entries newest first, optionally of one actor.

        Raises ValueError when ``limit`` is below 1.
        """
        sql, params = page_query(
            c.AUDIT_SELECT, "audit_log", [("actor", actor)], cursor, limit, self._placeholder
        )
        entries: list[AuditEntry]
        entries, next_cursor = cut_page(await self._page_rows(sql, params), limit, c.audit_from_row)
        return AuditPage(entries, next_cursor)
