"""The email monitor's tables on both stores: cursors, mail records (keyset pages), mailboxes."""

from __future__ import annotations

from runtime.mail.records import MailCursor, MailRecord, StoredMailbox, mail_key
from runtime.models import new_robot_id
from runtime.store import RobotStore
from tests.integration.test_store_contract import (  # noqa: F401 (fixtures)
    open_backend,
    store,
)


def _record(mailbox: str, uid: int, **fields: object) -> MailRecord:
    return MailRecord(
        id=new_robot_id(), mailbox=mailbox, uidvalidity=4_000_000_000, uid=uid, at=1.5,
        pii_kinds=["email"], robots=[f"r{uid}"], errors=["a reason"], **fields,
    )  # fmt: skip


async def test_cursor_moves_and_survives_reopen(open_backend) -> None:  # noqa: F811
    first: RobotStore = await open_backend()
    assert await first.mail_cursor("ap") is None
    await first.save_mail_cursor(MailCursor(mailbox="ap", uidvalidity=4_000_000_000, last_uid=7))
    await first.save_mail_cursor(MailCursor(mailbox="ap", uidvalidity=4_000_000_000, last_uid=9))
    second: RobotStore = await open_backend()
    assert await second.mail_cursor("ap") == MailCursor(
        mailbox="ap", uidvalidity=4_000_000_000, last_uid=9
    )


async def test_a_mail_is_recorded_once_and_paged_newest_first(store: RobotStore) -> None:  # noqa: F811
    kept = [_record("ap", uid, mail_class="invoice", confidence=0.9) for uid in range(1, 8)]
    for record in kept:
        await store.record_mail(record)
    await store.record_mail(_record("ap", 3, mail_class="spam"))  # same mail again: ignored
    await store.record_mail(_record("other", 1))
    assert (await store.mail_record_by_key(mail_key("ap", 4_000_000_000, 3))) == kept[2]
    seen: list[MailRecord] = []
    cursor = None
    while True:
        page = await store.list_mail(limit=3, cursor=cursor, mailbox="ap")
        seen += page.mail
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(kept, key=lambda r: r.id, reverse=True)  # ids sort by time
    assert len((await store.list_mail(limit=50)).mail) == 8
    await store.label_mail(kept[0].id, "support")
    labelled = await store.mail_record(kept[0].id)
    assert labelled is not None and labelled.label == "support"
    assert await store.mail_record("nope") is None


async def test_mailboxes_keep_their_run_time_state(store: RobotStore) -> None:  # noqa: F811
    await store.save_mailbox(StoredMailbox(name="b", spec='{"x": 1}'))
    await store.save_mailbox(StoredMailbox(name="a", spec="{}", paused=True))
    await store.save_mailbox(StoredMailbox(name="b", spec='{"x": 2}', removed=True))
    assert await store.list_mailboxes() == [
        StoredMailbox(name="a", spec="{}", paused=True),
        StoredMailbox(name="b", spec='{"x": 2}', removed=True),
    ]
