"""Rules and their firings, the same SQL on both stores (see ``0004_rules_schedules.sql``).

A backend provides ``_placeholder``, ``_page_rows`` (read) and ``_write_returning`` (one
write in its own transaction, answering its rows). A schedule's advance and the insert of
firings stay in each backend: they share a transaction with robots, written the backend's
way. The SQL here is written with ``{}`` where a parameter goes.
"""

from __future__ import annotations

from typing import Any

from runtime.models import RuleFiring
from runtime.rules.model import RuleRecord
from runtime.store import _codec as c
from runtime.store._pages import SqlTables

__all__ = ["ADVANCE_SCHEDULE", "RuleTables"]

ADVANCE_SCHEDULE = (
    "UPDATE rules SET paused = {}, decided_until = {}, buffered_slot = {}, fired = {}, "
    "skipped = {}, version = version + 1 WHERE id = {} AND version = {}"
)
"""A schedule's new state (:func:`~runtime.store._codec.state_row`), then its id and the
version it must still be at; it changes one row or none."""

_INSERT = (
    f"INSERT INTO rules ({c.RULE_SELECT}) VALUES ({', '.join(['{}'] * len(c.RULE_COLUMN_NAMES))}) "
    "ON CONFLICT (id) DO "
)
_KEEP = "NOTHING RETURNING id"
# A stored rule of that id keeps its state (cursor, counts): only what the record defines.
_REPLACE = "UPDATE SET spec = excluded.spec, origin = excluded.origin RETURNING id"


class RuleTables(SqlTables):
    """Mixin of :class:`~runtime.store.base.RobotStore`: rules and firings, both stores' SQL."""

    async def save_rule(self, record: RuleRecord, replace: bool = False) -> bool:
        """Insert a rule; False if its id is taken.

        With ``replace``, a stored rule of that id gets the record's spec and origin and
        keeps its state (a schedule's cursor and counts); True either way.
        """
        sql = self._sql(_INSERT + (_REPLACE if replace else _KEEP))
        return bool(await self._write_returning(sql, c.rule_row(record)))

    async def delete_rule(self, rule_id: str) -> bool:
        """Forget a rule (its firings stay); False if there is none."""
        sql = self._sql("DELETE FROM rules WHERE id = {} RETURNING id")
        return bool(await self._write_returning(sql, [rule_id]))

    async def list_rules(self) -> list[RuleRecord]:
        """Every rule with its state, by id."""
        rows = await self._page_rows(f"SELECT {c.RULE_SELECT} FROM rules ORDER BY id", [])
        return [c.rule_from_row(row) for row in rows]

    async def get_rule(self, rule_id: str) -> RuleRecord | None:
        """One rule with its state, or None."""
        sql = self._sql(f"SELECT {c.RULE_SELECT} FROM rules WHERE id = {{}}")
        rows = await self._page_rows(sql, [rule_id])
        return c.rule_from_row(rows[0]) if rows else None

    async def list_firings(
        self, rule_id: str, limit: int = 50, cursor: str | None = None
    ) -> list[RuleFiring]:
        """A rule's firings newest first; ``cursor`` (a firing id) continues a listing."""
        sql = f"SELECT {c.FIRING_SELECT} FROM rule_firings WHERE rule_id = {{}}"
        params: list[Any] = [rule_id]
        if cursor is not None:
            sql += " AND id < {}"
            params.append(cursor)
        sql = self._sql(sql + " ORDER BY id DESC LIMIT {}")
        rows = await self._page_rows(sql, [*params, limit])
        return [c.firing_from_row(row) for row in rows]
