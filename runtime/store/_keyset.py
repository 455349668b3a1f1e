"""Keyset paging, newest first: ``list_robots`` and ``list_audit`` of both stores.

A page is the rows whose ``id`` sorts below the cursor (the last id of the previous page),
ordered by ``id`` descending. One row more than the limit is read: its presence says a next
page exists, and the cursor of that page is the last id shown. Ids sort by creation time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from runtime.keys import AuditEntry
from runtime.models import Robot, RobotStatus
from runtime.store import _codec as c
from runtime.store.base import AuditPage, RobotPage


class Identified(Protocol):
    """A row's model: a robot or an audit entry, each with its ``id``."""

    @property
    def id(self) -> str:
        """The key the pages are cut on."""
        ...


T = TypeVar("T", bound=Identified)

Placeholder = Callable[[int], str]
"""The SQL placeholder of the n-th parameter (1-based): ``?`` or ``$n``."""


def sqlite_placeholder(_: int) -> str:
    """SQLite's positional placeholder."""
    return "?"


def postgres_placeholder(n: int) -> str:
    """PostgreSQL's numbered placeholder."""
    return f"${n}"


def page_query(
    select: str,
    table: str,
    filters: Sequence[tuple[str, Any]],
    cursor: str | None,
    limit: int,
    placeholder: Placeholder,
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of ``table``, newest first.

    ``select`` is the column list; ``filters`` are ``(column, value)`` equalities, skipped
    where the value is None. ``limit + 1`` rows are asked for (see :func:`cut_page`).
    Raises ValueError when ``limit`` is below 1.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where: list[str] = []
    params: list[Any] = []
    for column, op, value in (*((f, "=", v) for f, v in filters), ("id", "<", cursor)):
        if value is not None:
            params.append(value)
            where.append(f"{column} {op} {placeholder(len(params))}")
    sql = f"SELECT {select} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    params.append(limit + 1)
    return f"{sql} ORDER BY id DESC LIMIT {placeholder(len(params))}", params


def cut_page(
    rows: Sequence[Any], limit: int, decode: Callable[[Any], T]
) -> tuple[list[T], str | None]:
    """The first ``limit`` rows decoded, and the next page's cursor (None on the last page)."""
    items = [decode(row) for row in rows[:limit]]
    return items, items[-1].id if len(rows) > limit else None


class KeysetPages:
    """Mixin: ``list_robots`` and ``list_audit`` of a store, over :func:`page_query`.

    A backend sets ``_placeholder`` and implements ``_page_rows`` (run a query, return rows).
    """

    _placeholder: Placeholder

    async def _page_rows(self, sql: str, params: list[Any]) -> Sequence[Any]:
        raise NotImplementedError

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
