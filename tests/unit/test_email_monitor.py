"""The email monitor's state machine through a fake IMAP session: cursor, replay after a
crash, UIDVALIDITY change, filters, robots per class, a dropped connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.email_monitor import EmailMonitor
from cluster.invoice_samples import invoice_mail
from runtime.config import Settings
from runtime.errors import MailboxRejected
from runtime.mail.imap import FolderState, MailboxUnreachable
from runtime.mail.mailbox import MailAction, MailboxSpec, MailSettings, api_secret_problem
from runtime.mail.records import MailCursor
from runtime.messages import DocumentAnswer, SubmitAnswer, SubmitRequest
from runtime.store.sqlite import SqliteStore
from tests.mail_samples import support_mail, text_mail


class FakeSession:
    """A folder of mail in memory, answering like :class:`ImapSession`."""

    def __init__(self, server: FakeServer, spec: MailboxSpec) -> None:
        self.server = server
        self.spec = spec
        self.folder = FolderState(server.validity, max(server.mail, default=0) + 1)
        self.idle_offered = True

    def _check(self) -> None:
        if self.server.down:
            raise MailboxUnreachable("connection lost")

    async def uids_after(self, last_uid: int) -> list[int]:
        self._check()
        if self.server.refresh_folder:
            self.folder = FolderState(self.server.validity, max(self.server.mail, default=0) + 1)
        return sorted(uid for uid in self.server.mail if uid > last_uid)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        return {uid: len(self.server.mail[uid]) for uid in uids}

    async def fetch(self, uid: int, headers_only: bool = False) -> bytes | None:
        self._check()
        self.server.fetched.append(uid)
        return self.server.mail.get(uid)

    async def mark_read(self, uid: int) -> None:
        self.server.seen.add(uid)

    async def move(self, uid: int, folder: str) -> None:
        raise AssertionError("not asked for")

    async def wait_for_news(self, seconds: float) -> None:
        self._check()
        await asyncio.sleep(0.01)

    async def close(self) -> None:
        return None


class FakeServer:
    def __init__(self) -> None:
        self.validity = 7
        self.mail: dict[int, bytes] = {}
        self.fetched: list[int] = []
        self.seen: set[int] = set()
        self.down = False
        self.sessions = 0
        self.refresh_folder = True  # False: UIDNEXT stays what the session saw when it opened

    async def connect(self, spec: MailboxSpec, password: str) -> FakeSession:
        assert password == "pw"
        if self.down:
            raise MailboxUnreachable("refused")
        self.sessions += 1
        return FakeSession(self, spec)


class Classes:
    """A classifier by keyword, so the test knows each mail's class."""

    def predict(self, subject: str, body: str) -> tuple[str, float]:
        text = f"{subject} {body}".lower()
        if "invoice" in text:
            return "invoice", 0.95
        if "deal" in text:
            return "spam", 0.9
        return "support", 0.4  # below the threshold: the rules decide

    def learn(self, subject: str, body: str, label: str) -> None:
        raise AssertionError("not asked for")

    def save(self, path: Path) -> None:
        raise AssertionError("not asked for")


class Shelf:
    def __init__(self) -> None:
        self.stored: list[bytes] = []

    async def put(self, data: bytes) -> DocumentAnswer:
        self.stored.append(data)
        return DocumentAnswer(f"{len(self.stored):064x}", len(data), "application/pdf", True)


@pytest.fixture
async def setup(tmp_path: Path):
    spec = MailboxSpec(name="ap", host="imap.test", user="u", password_env="PW",
                       after="mark_read", subject_filter="^(?!ignore)")  # fmt: skip
    echo = [MailAction(type="echo")]
    mail = MailSettings(
        batch_size=2,
        max_batch_bytes=1024,  # each mail is over it: processed one at a time
        actions={"invoice": [MailAction(type="invoice.extract", per_attachment=True)],
                 "support": echo, "reminder": echo, "other": echo, "spam": []},
    )  # fmt: skip
    settings = Settings(data_dir=tmp_path, mailboxes=[spec], mail=mail)
    store = SqliteStore(tmp_path / "robofleet.db")
    await store.open()
    submitted: list[SubmitRequest] = []

    async def submit(requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        submitted.extend(requests)
        stored = await store.create_robots([r.robot for r in requests])
        return [SubmitAnswer(r.id) for r in stored]  # type: ignore[union-attr]

    server = FakeServer()
    shelf = Shelf()

    def monitor() -> EmailMonitor:
        return EmailMonitor(
            settings, store, submit, shelf, classifier=Classes(),
            redact=lambda text: (text.replace("ana@example.com", "[EMAIL]"),
                                 frozenset({"email"}) if "ana@" in text else frozenset()),
            environ={"PW": "pw"}, connect=server.connect,  # type: ignore[arg-type]
        )  # fmt: skip

    yield server, store, monitor, submitted, shelf
    await store.close()


async def _settle(store: SqliteStore, last_uid: int) -> None:
    for _ in range(500):
        cursor = await store.mail_cursor("ap")
        if cursor is not None and cursor.last_uid >= last_uid:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cursor did not reach the last mail")


async def test_each_mail_becomes_its_robots_once_and_a_replay_makes_nothing_new(setup) -> None:
    server, store, monitor, submitted, shelf = setup
    pdf = b"%PDF-1.4\n%%EOF\n"
    server.mail = {
        1: invoice_mail(pdf, "INV-1"),
        2: support_mail(1),
        3: text_mail("Hot deals", "50% off"),
        4: text_mail("ignore me", "filtered by subject"),
        5: text_mail("Question", "write to ana@example.com"),
    }
    first = monitor()
    await first.start()
    await _settle(store, 5)
    await first.stop()
    records = {r.uid: r for r in (await store.list_mail()).mail}
    assert [records[u].mail_class for u in range(1, 6)] == [
        "invoice", "support", "spam", None, "support",
    ]  # fmt: skip
    assert [len(records[u].robots) for u in range(1, 6)] == [1, 1, 0, 0, 1]
    assert records[4].errors == ["skipped: subject does not match subject_filter"]
    assert records[5].pii_kinds == ["email"] and "ana@example.com" not in str(records[5])
    assert records[2].decided_by == "model" and records[1].attachments
    assert server.seen == {1, 2, 3, 4, 5}
    assert (first.settings.mail_dir() / "raw").is_dir()

    # a crash after mail 5's robot, before its record and the cursor: the batch is repeated
    await store._write_now("DELETE FROM mail_records WHERE uid = 5", ())
    await store.save_mail_cursor(MailCursor(mailbox="ap", uidvalidity=7, last_uid=2))
    before = len(submitted)
    second = monitor()
    await second.start()
    await _settle(store, 5)
    await second.stop()
    assert len(submitted) == before + 1  # it asked again for mail 5's robot ...
    rows = await store._read("SELECT COUNT(*) FROM robots", ())
    assert rows[0][0] == 3  # ... and nothing was made twice
    again = {r.uid: r for r in (await store.list_mail()).mail}
    assert len(again) == 5 and again[5].robots == records[5].robots


async def test_a_uidvalidity_change_processes_the_folder_again(setup, caplog) -> None:
    server, store, monitor, _, _ = setup
    server.mail = {1: support_mail(1), 2: support_mail(2)}
    running = monitor()
    await running.start()
    await _settle(store, 2)
    server.validity = 8
    server.mail = {1: support_mail(3)}
    for _ in range(500):
        cursor = await store.mail_cursor("ap")
        if cursor is not None and cursor.uidvalidity == 8:
            break
        await asyncio.sleep(0.01)
    await running.stop()
    keys = sorted((r.uidvalidity, r.uid) for r in (await store.list_mail()).mail)
    assert keys == [(7, 1), (7, 2), (8, 1)]
    assert "UIDVALIDITY changed from 7 to 8" in caplog.text


async def test_a_dropped_server_is_reconnected_and_the_mailbox_shows_it(setup) -> None:
    server, store, monitor, _, _ = setup
    server.mail = {1: support_mail(1)}
    running = monitor()
    await running.start()
    await _settle(store, 1)
    (status,) = running.mailboxes()
    assert status.state == "watching" and status.uidnext == 2 and status.last_uid == 1
    server.down = True
    for _ in range(300):
        if running.mailboxes()[0].state == "connecting":
            break
        await asyncio.sleep(0.01)
    assert running.mailboxes()[0].error
    server.down = False
    server.mail[2] = support_mail(2)
    await _settle(store, 2)
    assert server.sessions >= 2
    paused = await running.set_paused("ap", True)
    assert paused.state == "paused"
    await running.stop()


async def _state_of(running: EmailMonitor, wanted: str) -> str:
    for _ in range(300):
        if running.mailboxes()[0].state == wanted:
            break
        await asyncio.sleep(0.01)
    return running.mailboxes()[0].state


async def test_a_mailbox_it_cannot_configure_or_reach_says_so_not_stale(setup) -> None:
    server, _, monitor, _, _ = setup
    running = monitor()
    running.environ = {}  # its password_env is not set
    await running.start()
    assert await _state_of(running, "misconfigured") == "misconfigured"
    assert "PW" in (running.mailboxes()[0].error or "")
    await running.stop()
    server.down = True  # a bad host: never reached
    running = monitor()
    await running.start()
    assert await _state_of(running, "unreachable") == "unreachable"
    assert running.mailboxes()[0].error == "refused"
    server.down = False
    await running.stop()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"password_env": "BILLING_HOOK_SECRETS"}, "must name a variable starting with"),
        ({"password_file": "/etc/hostname"}, "must lie inside the mailbox secrets directory"),
        ({"password_file": "../robofleet.db"}, "must be an absolute path inside the mailbox"),
        ({"password_file": "link"}, "must be an absolute path inside the mailbox"),
        # relative to the monitor's working directory, not to the secrets dir
        ({"password_file": "canary.txt"}, "must be an absolute path inside the mailbox"),
        ({"password_file": "{secrets}/../robofleet.db"}, "must lie inside the mailbox secrets"),
        ({"password_file": "{secrets}/link"}, "must lie inside the mailbox secrets directory"),
        ({"password_file": "{secrets}"}, "must lie inside the mailbox secrets directory"),
        ({"password_env": "ROBOFLEET_MAILBOX_"}, "must name a variable starting with"),
    ],
)
async def test_a_mailbox_from_the_api_reads_only_mailbox_variables_and_secret_files(
    setup, tmp_path, source, message
) -> None:
    _, _, monitor, _, _ = setup
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "link").symlink_to("/etc/hostname")
    secrets = str(tmp_path / "secrets")
    source = {k: v.replace("{secrets}", secrets) for k, v in source.items()}
    spec = {"name": "api-box", "host": "evil.test", "user": "u", **source}
    with pytest.raises(MailboxRejected, match=message):
        await monitor().add_mailbox(spec)


def test_the_secrets_directory_and_the_mailbox_prefix_are_allowed(tmp_path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "imap").write_text("pw")
    for source in (
        {"password_env": "ROBOFLEET_MAILBOX_AP"},
        {"password_file": str(secrets / "imap")},
    ):
        spec = MailboxSpec(name="ok", host="h", user="u", **source)  # type: ignore[arg-type]
        assert api_secret_problem(spec, secrets) is None
    assert Settings(data_dir=tmp_path).mailbox_secrets() == secrets


async def test_uidnext_is_past_the_last_processed_mail_not_what_the_folder_said_before(
    setup,
) -> None:
    server, store, monitor, _, _ = setup
    server.refresh_folder = False  # like a real server: UIDNEXT as read when the folder opened
    watcher = monitor()
    await watcher.start()
    for _ in range(500):
        if server.sessions:
            break
        await asyncio.sleep(0.01)
    server.mail = {uid: text_mail(f"Question {uid}", "hello") for uid in range(1, 54)}
    await _settle(store, 53)
    try:
        [status] = watcher.mailboxes()
        assert status.last_uid == 53
        assert status.uidnext == 54
    finally:
        await watcher.stop()
