"""Keyset page queries with no store type in them: the SQL of a page and how to cut it.

``runtime.store._keyset`` builds the robot and audit listings on these; the mail tables
(``runtime.store._mail``, part of the store's base) use them too, which is why they sit
apart from anything that imports the base.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar


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


def with_placeholders(template: str, placeholder: Placeholder) -> str:
    """``template`` with its n-th ``{}`` replaced by the n-th parameter's placeholder."""
    return template.format(*(placeholder(n) for n in range(1, template.count("{}") + 1)))


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


class SqlTables:
    """Base of the store mixins that hold SQL both backends run (keyset pages, mail, outbox,
    rules): what each asks of a backend, and its SQL with the backend's placeholders."""

    _placeholder: Placeholder

    async def _page_rows(self, sql: str, params: list[Any]) -> Sequence[Any]:
        """Run a read; its rows."""
        raise NotImplementedError

    async def _mail_write(self, sql: str, params: Sequence[Any]) -> None:
        """Run one write in its own transaction."""
        raise NotImplementedError

    async def _write_returning(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Run one write in its own transaction; the rows it returns."""
        raise NotImplementedError

    def _sql(self, template: str) -> str:
        """``template`` with this backend's placeholders (see :func:`with_placeholders`)."""
        return with_placeholders(template, self._placeholder)
