"""The notification outbox's tables, the same SQL on both stores (see ``0006_outbox.sql``).

A backend provides ``_placeholder``, ``_page_rows`` (read), ``_mail_write`` (one write in
its own transaction) and ``_write_returning`` (one write answering its rows). Deliveries
fired by a robot event are inserted with its transition (``DELIVERY_COLUMNS`` rows, by the
backend's transition code); the notifier reads due ones and records each attempt here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from runtime.notify.outbox import Delivery, DeliveryPage, DeliveryState
from runtime.store._pages import SqlTables, cut_page, page_query

__all__ = ["DELIVERY_COLUMNS", "OutboxTables", "delivery_row"]

DELIVERY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("dedup_key", "text"),
    ("rule_id", "text"),
    ("robot_id", "text"),
    ("channel", "text"),
    ("recipient", "text"),
    ("locale", "text"),
    ("subject", "text"),
    ("body_text", "text"),
    ("body_html", "text"),
    ("state", "text"),
    ("attempts", "text"),
    ("attempt_count", "int4"),
    ("next_attempt_at", "float8"),
    ("created_at", "float8"),
    ("updated_at", "float8"),
)
"""Columns of ``notifications`` with their PostgreSQL types, in row order."""
_NAMES = [name for name, _ in DELIVERY_COLUMNS]
_SELECT = ", ".join(_NAMES)


def delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    """A delivery as a ``notifications`` row (``DELIVERY_COLUMNS`` order)."""
    return (
        delivery.id,
        delivery.dedup_key,
        delivery.rule_id,
        delivery.robot_id,
        delivery.channel.value,
        delivery.recipient,
        delivery.locale,
        delivery.subject,
        delivery.text,
        delivery.html,
        delivery.state.value,
        json.dumps([a.model_dump(mode="json") for a in delivery.attempts]),
        len(delivery.attempts),
        float(delivery.next_attempt_at),
        float(delivery.created_at),
        float(delivery.updated_at),
    )


def _delivery_from_row(row: Sequence[Any]) -> Delivery:
    v = dict(zip(_NAMES, row, strict=True))
    return Delivery(
        id=v["id"],
        dedup_key=v["dedup_key"],
        rule_id=v["rule_id"],
        robot_id=v["robot_id"],
        channel=v["channel"],
        recipient=v["recipient"],
        locale=v["locale"],
        subject=v["subject"],
        text=v["body_text"],
        html=v["body_html"],
        state=v["state"],
        attempts=json.loads(v["attempts"]),
        next_attempt_at=v["next_attempt_at"],
        created_at=v["created_at"],
        updated_at=v["updated_at"],
    )


class OutboxTables(SqlTables):
    """Mixin of :class:`~runtime.store.base.RobotStore`: the durable notification outbox."""

    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> int:
        """Insert deliveries not stored yet (by id or dedup key); answer how many were new."""
        added = 0
        sql = self._sql(
            f"INSERT INTO notifications ({_SELECT}) VALUES ({', '.join(['{}'] * len(_NAMES))}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        for delivery in deliveries:
            added += len(await self._write_returning(sql, delivery_row(delivery)))
        return added

    async def due_deliveries(self, now: float, limit: int = 100) -> list[Delivery]:
        """Pending deliveries due at ``now``, soonest first, ``limit`` at most."""
        rows = await self._page_rows(
            self._sql(
                f"SELECT {_SELECT} FROM notifications WHERE state = 'pending' AND "
                "next_attempt_at <= {} ORDER BY next_attempt_at, id LIMIT {}"
            ),
            [now, limit],
        )
        return [_delivery_from_row(row) for row in rows]

    async def next_delivery_at(self) -> float | None:
        """When the soonest pending delivery is due, or None when none is pending."""
        rows = await self._page_rows(
            "SELECT MIN(next_attempt_at) FROM notifications WHERE state = 'pending'", []
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def record_attempt(self, delivery: Delivery, attempts_before: int) -> bool:
        """Write a delivery's new state, attempts and due time.

        Applies only while the stored delivery is pending with ``attempts_before`` attempts,
        so an attempt is recorded once even with two writers; answers whether it applied.
        """
        row = delivery_row(delivery)
        values = dict(zip(_NAMES, row, strict=True))
        changed = await self._write_returning(
            self._sql(
                "UPDATE notifications SET state = {}, attempts = {}, attempt_count = {}, "
                "next_attempt_at = {}, updated_at = {} WHERE id = {} AND state = 'pending' "
                "AND attempt_count = {} RETURNING id"
            ),
            [
                values["state"],
                values["attempts"],
                values["attempt_count"],
                values["next_attempt_at"],
                values["updated_at"],
                delivery.id,
                attempts_before,
            ],
        )
        return bool(changed)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        """One delivery by id, or None."""
        rows = await self._page_rows(
            self._sql(f"SELECT {_SELECT} FROM notifications WHERE id = {{}}"), [delivery_id]
        )
        return _delivery_from_row(rows[0]) if rows else None

    async def list_deliveries(
        self,
        limit: int = 50,
        cursor: str | None = None,
        state: DeliveryState | None = None,
        recipient: str | None = None,
    ) -> DeliveryPage:
        """Deliveries newest first, optionally in one state or to one recipient,
        keyset-paginated on the id. Raises ValueError when ``limit`` is below 1."""
        sql, params = page_query(
            _SELECT,
            "notifications",
            [("state", state.value if state else None), ("recipient", recipient)],
            cursor,
            limit,
            self._placeholder,
        )
        found, next_cursor = cut_page(await self._page_rows(sql, params), limit, _delivery_from_row)
        return DeliveryPage(deliveries=found, next_cursor=next_cursor)

    async def deliveries_after(
        self, after_id: str, recipient: str | None = None, limit: int = 200
    ) -> list[Delivery]:
        """Deliveries whose id sorts after ``after_id``, oldest first, ``limit`` at most;
        with ``recipient``, only the in-app ones addressed to it (an event stream's feed)."""
        sql = f"SELECT {_SELECT} FROM notifications WHERE id > {{}}"
        params: list[Any] = [after_id]
        if recipient is not None:
            sql += " AND recipient = {} AND channel = 'inapp'"
            params.append(recipient)
        params.append(limit)
        rows = await self._page_rows(self._sql(sql + " ORDER BY id LIMIT {}"), params)
        return [_delivery_from_row(row) for row in rows]

    async def count_deliveries(self, state: DeliveryState) -> int:
        """How many deliveries are in ``state`` (the dead letter's size for ``dead``)."""
        rows = await self._page_rows(
            self._sql("SELECT COUNT(*) FROM notifications WHERE state = {}"), [state.value]
        )
        return int(rows[0][0])

    async def replay_delivery(self, delivery_id: str, now: float | None = None) -> bool:
        """Make a dead delivery pending and due now; False if it is not dead."""
        at = now if now is not None else time.time()
        changed = await self._write_returning(
            self._sql(
                "UPDATE notifications SET state = 'pending', next_attempt_at = {}, "
                "updated_at = {} WHERE id = {} AND state = 'dead' RETURNING id"
            ),
            [at, at, delivery_id],
        )
        return bool(changed)

    async def disable_endpoint(self, name: str, reason: str, now: float | None = None) -> None:
        """Disable a webhook endpoint (a 410 answer) until :meth:`enable_endpoint`."""
        await self._mail_write(
            self._sql(
                "INSERT INTO notify_endpoints (name, disabled_at, reason) VALUES ({}, {}, {}) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            [name, now if now is not None else time.time(), reason[:500]],
        )

    async def enable_endpoint(self, name: str) -> None:
        """Enable a disabled webhook endpoint again."""
        await self._mail_write(self._sql("DELETE FROM notify_endpoints WHERE name = {}"), [name])

    async def disabled_endpoints(self) -> dict[str, str]:
        """Disabled webhook endpoints: name -> reason."""
        rows = await self._page_rows("SELECT name, reason FROM notify_endpoints", [])
        return {str(name): str(reason) for name, reason in rows}
