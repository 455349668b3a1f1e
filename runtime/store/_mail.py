"""The email monitor's tables, the same SQL on both stores: mailboxes, cursors, mail records.

A backend provides ``_placeholder``, ``_page_rows`` (read) and ``_mail_write`` (one write
in its own transaction); the SQL here is written with ``{}`` where a parameter goes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from runtime.mail.records import MailCursor, MailPage, MailRecord, StoredMailbox
from runtime.store._pages import SqlTables, cut_page, page_query

__all__ = ["MailTables"]

RECORD_COLUMNS = (
    "id", "mail_key", "mailbox", "uidvalidity", "uid", "at", "message_id", "sender", "subject",
    "body", "mail_class", "confidence", "decided_by", "pii_kinds", "robots", "errors",
    "raw_document", "attachments", "label",
)  # fmt: skip
_SELECT = ", ".join(c for c in RECORD_COLUMNS if c != "mail_key")
_LISTS = ("pii_kinds", "robots", "errors", "attachments")


def _record_row(record: MailRecord, key: str) -> tuple[Any, ...]:
    values = record.model_dump()
    values["mail_key"] = key
    for name in _LISTS:
        values[name] = json.dumps(values[name])
    return tuple(values[c] for c in RECORD_COLUMNS)


def _record_from_row(row: Sequence[Any]) -> MailRecord:
    names = [c for c in RECORD_COLUMNS if c != "mail_key"]
    values = dict(zip(names, row, strict=True))
    for name in _LISTS:
        values[name] = json.loads(values[name] or "[]")
    return MailRecord.model_validate(values)


class MailTables(SqlTables):
    """Mixin of :class:`~runtime.store.base.RobotStore`: the email monitor's durable state."""

    async def mail_cursor(self, mailbox: str) -> MailCursor | None:
        """The stored cursor of a mailbox, or None before its first mail."""
        rows = await self._page_rows(
            self._sql("SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = {}"),
            [mailbox],
        )
        if not rows:
            return None
        return MailCursor(mailbox=mailbox, uidvalidity=int(rows[0][0]), last_uid=int(rows[0][1]))

    async def save_mail_cursor(self, cursor: MailCursor) -> None:
        """Move a mailbox's cursor (insert or replace)."""
        await self._mail_write(
            self._sql(
                "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid, updated_at) "
                "VALUES ({}, {}, {}, {}) ON CONFLICT (mailbox) DO UPDATE SET "
                "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
                "updated_at = excluded.updated_at"
            ),
            [cursor.mailbox, cursor.uidvalidity, cursor.last_uid, time.time()],
        )

    async def record_mail(self, record: MailRecord) -> None:
        """Keep a processed mail's record; a record of the same mail already kept wins."""
        placeholders = ", ".join(self._placeholder(n) for n in range(1, len(RECORD_COLUMNS) + 1))
        await self._mail_write(
            f"INSERT INTO mail_records ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT DO NOTHING",
            _record_row(record, f"{record.mailbox}:{record.uidvalidity}:{record.uid}"),
        )

    async def mail_record(self, record_id: str) -> MailRecord | None:
        """One processed mail by id, or None."""
        rows = await self._page_rows(
            self._sql(f"SELECT {_SELECT} FROM mail_records WHERE id = {{}}"), [record_id]
        )
        return _record_from_row(rows[0]) if rows else None

    async def mail_record_by_key(self, key: str) -> MailRecord | None:
        """The record of a mail by its ``mailbox:uidvalidity:uid`` key, or None."""
        rows = await self._page_rows(
            self._sql(f"SELECT {_SELECT} FROM mail_records WHERE mail_key = {{}}"), [key]
        )
        return _record_from_row(rows[0]) if rows else None

    async def label_mail(self, record_id: str, label: str) -> None:
        """Record an operator's class for a processed mail."""
        await self._mail_write(
            self._sql("UPDATE mail_records SET label = {} WHERE id = {}"), [label, record_id]
        )

    async def list_mail(
        self, limit: int = 50, cursor: str | None = None, mailbox: str | None = None
    ) -> MailPage:
        """Processed mail newest first, optionally of one mailbox, keyset-paginated on the id.

        Raises ValueError when ``limit`` is below 1.
        """
        sql, params = page_query(
            _SELECT, "mail_records", [("mailbox", mailbox)], cursor, limit, self._placeholder
        )
        records, next_cursor = cut_page(await self._page_rows(sql, params), limit, _record_from_row)
        return MailPage(mail=records, next_cursor=next_cursor)

    async def save_mailbox(self, stored: StoredMailbox) -> None:
        """Insert or replace a mailbox's run-time state (spec, paused, removed)."""
        await self._mail_write(
            self._sql(
                "INSERT INTO mailboxes (name, spec, paused, removed, updated_at) "
                "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (name) DO UPDATE SET "
                "spec = excluded.spec, paused = excluded.paused, removed = excluded.removed, "
                "updated_at = excluded.updated_at"
            ),
            [stored.name, stored.spec, int(stored.paused), int(stored.removed), time.time()],
        )

    async def list_mailboxes(self) -> list[StoredMailbox]:
        """Every mailbox with run-time state, by name."""
        rows = await self._page_rows(
            "SELECT name, spec, paused, removed FROM mailboxes ORDER BY name", []
        )
        return [
            StoredMailbox(name=n, spec=s, paused=bool(p), removed=bool(r)) for n, s, p, r in rows
        ]
