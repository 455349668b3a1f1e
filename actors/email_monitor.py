"""The email monitor: watches mailboxes over IMAP and turns each mail into robots exactly once.

One watch per mailbox runs its own loop: connect, process every UID past the mailbox's
cursor in batches, wait for news (IDLE, else a poll), again; a drop, ``BYE`` or timeout ends
the session and the loop reconnects with backoff. Per mail (:meth:`EmailMonitor._process`):
keep the raw message, parse, redact, classify (the config's rules below the threshold),
store the document attachments, submit the class's robots with idempotency keys built from
``mailbox:UIDVALIDITY:UID``, record the mail; then the batch's after-actions and the cursor.

Exactly once: a crash anywhere before the cursor moves repeats the batch; its robots come
back from the store by their keys and its records by their mail keys, so nothing is made
twice, and nothing past the cursor is skipped. A ``UIDVALIDITY`` change is logged and the
folder processed again under the new validity (the server renumbered it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from runtime.backoff import backoff_delay
from runtime.config import Settings
from runtime.errors import (
    BadDocument,
    ConfigError,
    MailboxExists,
    MailboxNotFound,
    MailboxRejected,
    MailNotFound,
    ModuleRejected,
    UnknownRobotType,
)
from runtime.mail.imap import CommandRefused, ImapSession, MailboxUnreachable
from runtime.mail.mailbox import MailboxSpec, api_secret_problem, mailbox_password
from runtime.mail.parse import ParsedMail, parse_mail
from runtime.mail.plan import AttachedDocument, plan_robots
from runtime.mail.raw import RawMail
from runtime.mail.records import MailCursor, MailRecord, StoredMailbox, mail_key
from runtime.messages import DocumentAnswer, MailboxStatus, SubmitAnswer, SubmitRequest
from runtime.models import new_robot_id
from runtime.store.base import RobotStore

__all__ = ["EmailMonitor", "MailMetrics", "MailboxWatch", "NoMetrics"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RECONNECT_BASE_S = 0.5
RECONNECT_CAP_S = 30.0
MODEL_FILE = "classifier.npz"


class Classifier(Protocol):
    """What the monitor asks of ``runtime.mail.classify.MailClassifier``."""

    def predict(self, subject: str, body: str) -> tuple[str, float]:
        """The class and its probability."""
        ...

    def learn(self, subject: str, body: str, label: str) -> None:
        """Fold one labelled mail into the model."""
        ...

    def save(self, path: Path) -> None:
        """Write the model to ``path``."""
        ...


class DocumentPut(Protocol):
    """Where attachments are stored: the ``documents`` actor or a local shelf."""

    async def put(self, data: bytes) -> DocumentAnswer:
        """Store a document; raises ``BadDocument`` when it is refused."""
        ...


class MailMetrics(Protocol):
    """Where the monitor reports its figures (Ray metrics on a cluster)."""

    def contact(self, mailbox: str, at: float) -> None:
        """A successful server round trip at Unix time ``at``."""
        ...

    def processed(self, mailbox: str, mail_class: str) -> None:
        """One mail processed, of ``mail_class`` (``none`` when it got no class)."""
        ...

    def stale(self, mailbox: str, stale: bool) -> None:
        """Whether the mailbox is silent past its bound."""
        ...


class NoMetrics:
    """A :class:`MailMetrics` that drops everything."""

    def contact(self, mailbox: str, at: float) -> None:
        """Ignore."""

    def processed(self, mailbox: str, mail_class: str) -> None:
        """Ignore."""

    def stale(self, mailbox: str, stale: bool) -> None:
        """Ignore."""


Submit = Callable[[list[SubmitRequest]], Awaitable[list[SubmitAnswer]]]
Connect = Callable[[MailboxSpec, str], Awaitable[ImapSession]]
"""Opens a session on a mailbox (``ImapSession.open``; a fake in the unit tests)."""
Redact = Callable[[str], tuple[str, frozenset[str]]]


@dataclass(eq=False)
class MailboxWatch:
    """One watched mailbox: its spec, where it came from, and its live figures."""

    spec: MailboxSpec
    source: str  # "config" or "api"
    paused: bool = False
    task: asyncio.Task[None] | None = None
    connected: bool = False
    last_contact: float | None = None
    uidvalidity: int | None = None
    uidnext: int | None = None
    last_uid: int | None = None
    processed: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    failure: str | None = None  # "misconfigured" or "unreachable": what the last try hit
    started_at: float = field(default_factory=time.time)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def state(self, now: float) -> str:
        """``paused``, ``misconfigured``, ``unreachable``, ``stale``, ``watching`` or
        ``connecting`` (see MailboxStatus)."""
        if self.paused:
            return "paused"
        if self.failure == "misconfigured":
            return "misconfigured"
        if self.failure == "unreachable" and self.last_contact is None:
            return "unreachable"
        since = self.last_contact if self.last_contact is not None else self.started_at
        if now - since > self.spec.stale_after_s:
            return "stale"
        return "watching" if self.connected else "connecting"

    def status(self, now: float) -> MailboxStatus:
        """The typed view of this mailbox."""
        s = self.spec
        return MailboxStatus(
            name=s.name, host=s.host, port=s.port, user=s.user, folder=s.folder,
            state=self.state(now), paused=self.paused, idle=s.idle,
            last_contact=self.last_contact, stale_after_s=s.stale_after_s,
            uidvalidity=self.uidvalidity, uidnext=self.uidnext, last_uid=self.last_uid,
            processed=self.processed, error=self.error, source=self.source,
            by_class=dict(self.by_class),
        )  # fmt: skip


class EmailMonitor:
    """Watches every configured and added mailbox; see the module docstring.

    ``submit`` is the orchestrator's idempotent ``submit_many``; ``documents`` stores
    attachments; ``classifier`` and ``redact`` come from ``runtime.mail`` by default.
    """

    def __init__(
        self,
        settings: Settings,
        store: RobotStore,
        submit: Submit,
        documents: DocumentPut,
        metrics: MailMetrics | None = None,
        classifier: Classifier | None = None,
        redact: Redact | None = None,
        environ: dict[str, str] | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.submit = submit
        self.documents = documents
        self.metrics = metrics or NoMetrics()
        self.raw = RawMail(settings.mail_dir() / "raw")
        self.model_path = Path(settings.mail.model_path or settings.mail_dir() / MODEL_FILE)
        self._classifier = classifier
        self._redact = redact
        self.environ = environ
        self.connect: Connect = connect or ImapSession.open
        self.watches: dict[str, MailboxWatch] = {}
        self.stopping = False
        self._learn_lock = asyncio.Lock()
        # One thread for parsing and the model: the work holds the GIL anyway, and every
        # further thread that runs scikit-learn grows its own native buffers (peak memory).
        self._cpu_thread = ThreadPoolExecutor(1, thread_name_prefix="mail-cpu")
        self._liveness: asyncio.Task[None] | None = None

    # -- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the model, read the mailboxes (config, then the store's changes), start."""
        if self._redact is None:
            from runtime.mail.pii import redact

            self._redact = redact
        stored = {m.name: m for m in await self.store.list_mailboxes()}
        for spec in self.settings.mailboxes:
            self.watches[spec.name] = MailboxWatch(spec, "config")
        for name, entry in stored.items():
            if entry.removed:
                self.watches.pop(name, None)
                continue
            watch = self.watches.get(name)
            if watch is None:
                watch = MailboxWatch(MailboxSpec.model_validate_json(entry.spec), "api")
                self.watches[name] = watch
            watch.paused = entry.paused
        for watch in self.watches.values():
            self._launch(watch)
        self._liveness = asyncio.get_running_loop().create_task(self._export_liveness())

    async def _cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu_thread, fn, *args)

    def classifier(self) -> Classifier:
        """The mail classifier: the learned model if one was saved, else the shipped one.

        Loaded on first use, from the thread that asks. Predicting needs numpy only; the
        first correction imports scikit-learn (``MailClassifier.learn``).
        """
        if self._classifier is None:
            from runtime.mail.classify import MailClassifier

            path = self.model_path if self.model_path.exists() else None
            self._classifier = MailClassifier.load(path)
        return self._classifier

    async def stop(self) -> None:
        """Stop every watch and the liveness export."""
        self.stopping = True
        tasks = [w.task for w in self.watches.values() if w.task is not None]
        if self._liveness is not None:
            tasks.append(self._liveness)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cpu_thread.shutdown(wait=False)

    def _launch(self, watch: MailboxWatch) -> None:
        watch.task = asyncio.get_running_loop().create_task(
            self._watch(watch), name=f"mailbox:{watch.spec.name}"
        )

    async def _export_liveness(self) -> None:
        while not self.stopping:
            now = time.time()
            for name, watch in list(self.watches.items()):
                try:
                    self.metrics.stale(name, watch.state(now) == "stale")
                except Exception:
                    log.debug("liveness export failed", exc_info=True)
            await asyncio.sleep(1.0)

    # -- the watch loop -----------------------------------------------------------------

    def _contact(self, watch: MailboxWatch, session: ImapSession) -> None:
        watch.last_contact = time.time()
        watch.uidvalidity = session.folder.uidvalidity
        # The folder's UIDNEXT is what the server said when the folder was opened (or last
        # refreshed); mail processed since then is past it, so the cursor bounds it below.
        done = watch.last_uid + 1 if watch.last_uid is not None else 0
        watch.uidnext = max(session.folder.uidnext, done)
        watch.connected = True
        self.metrics.contact(watch.spec.name, watch.last_contact)

    async def _watch(self, watch: MailboxWatch) -> None:
        failures = 0
        while not self.stopping:
            if watch.paused:
                watch.connected = False
                watch.wake.clear()
                await watch.wake.wait()
                continue
            session: ImapSession | None = None
            try:
                password = mailbox_password(watch.spec, self.environ)
                session = await self.connect(watch.spec, password)
                self._contact(watch, session)
                watch.error = watch.failure = None
                failures = 0
                while not self.stopping and not watch.paused:
                    await self._drain(watch, session)
                    wait_s = min(watch.spec.idle_renew_s, watch.spec.stale_after_s / 2)
                    if not watch.spec.idle or not session.idle_offered:
                        wait_s = min(wait_s, watch.spec.poll_interval_s)
                    await self._wait(watch, session, wait_s)
            except asyncio.CancelledError:
                raise
            except (MailboxUnreachable, ConfigError) as exc:
                watch.error = str(exc)
                watch.failure = "misconfigured" if isinstance(exc, ConfigError) else "unreachable"
                log.warning("mailbox %s: %s; reconnecting", watch.spec.name, exc)
            except Exception as exc:  # a store or orchestrator outage: the batch is retried
                watch.error = f"{type(exc).__name__}: {exc}"
                watch.failure = None
                log.warning("mailbox %s: %s; retrying", watch.spec.name, watch.error)
            finally:
                watch.connected = False
                if session is not None:
                    await session.close()
            failures += 1
            await self._sleep(watch, backoff_delay(failures, RECONNECT_BASE_S, RECONNECT_CAP_S))

    async def _sleep(self, watch: MailboxWatch, seconds: float) -> None:
        watch.wake.clear()
        try:
            await asyncio.wait_for(watch.wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _wait(self, watch: MailboxWatch, session: ImapSession, seconds: float) -> None:
        """Wait for news from the server, or a pause asked meanwhile."""
        watch.wake.clear()
        news = asyncio.ensure_future(session.wait_for_news(seconds))
        woken = asyncio.ensure_future(watch.wake.wait())
        done, _ = await asyncio.wait({news, woken}, return_when=asyncio.FIRST_COMPLETED)
        if news in done:
            woken.cancel()
            news.result()
            self._contact(watch, session)
            return
        news.cancel()  # paused: the session is dropped, so a half-done IDLE does not matter
        await asyncio.gather(news, return_exceptions=True)

    async def _drain(self, watch: MailboxWatch, session: ImapSession) -> None:
        """Process every mail past the cursor, one batch at a time, moving the cursor."""
        name = watch.spec.name
        cursor = await self.store.mail_cursor(name)
        validity = session.folder.uidvalidity
        if cursor is not None and cursor.uidvalidity != validity:
            log.warning(
                "mailbox %s: UIDVALIDITY changed from %d to %d; processing the folder again",
                name, cursor.uidvalidity, validity,
            )  # fmt: skip
            cursor = None
        if cursor is None:
            cursor = MailCursor(mailbox=name, uidvalidity=validity, last_uid=0)
        watch.last_uid = cursor.last_uid
        uids = await session.uids_after(cursor.last_uid)
        self._contact(watch, session)
        size = self.settings.mail.batch_size
        for start in range(0, len(uids), size):
            if watch.paused or self.stopping:
                return
            batch = uids[start : start + size]
            await self._batch(watch, session, validity, batch)
            cursor = MailCursor(mailbox=name, uidvalidity=validity, last_uid=batch[-1])
            await self.store.save_mail_cursor(cursor)
            watch.last_uid = cursor.last_uid
            self._contact(watch, session)

    async def _batch(
        self, watch: MailboxWatch, session: ImapSession, validity: int, uids: list[int]
    ) -> None:
        """Fetch and process ``uids``; at most ``max_batch_bytes`` of raw mail held at once."""
        limit = self.settings.mail.max_message_bytes
        bound = self.settings.mail.max_batch_bytes
        sizes = await session.sizes(uids)
        done: list[int] = []
        fetched: list[tuple[int, bytes | None, int]] = []
        held = 0
        for n, uid in enumerate(uids):
            size = sizes.get(uid, 0)
            raw = await session.fetch(uid, headers_only=size > limit)
            if raw is not None:  # None: expunged since the search
                fetched.append((uid, raw, size))
                held += len(raw)
            if fetched and (held >= bound or n == len(uids) - 1):
                await asyncio.gather(
                    *(self._process(watch, validity, u, r, s) for u, r, s in fetched)
                )
                done += [u for u, _, _ in fetched]
                fetched, held = [], 0
        spec = watch.spec
        for uid in done:
            try:
                if spec.after == "mark_read":
                    await session.mark_read(uid)
                elif spec.after == "move" and spec.move_to:
                    await session.move(uid, spec.move_to)
            except CommandRefused as exc:  # e.g. no such folder: the mail stays, we carry on
                watch.error = f"after-action {spec.after} of UID {uid}: {exc}"
                log.warning("mailbox %s: %s", spec.name, watch.error)

    # -- one mail -------------------------------------------------------------------------

    async def _process(
        self, watch: MailboxWatch, validity: int, uid: int, raw: bytes | None, size: int
    ) -> MailRecord:
        spec = watch.spec
        key = mail_key(spec.name, validity, uid)
        done = await self.store.mail_record_by_key(key)
        if done is not None:
            return done  # processed before a crash; the cursor had not moved yet
        limits = self.settings.mail
        assert raw is not None
        oversized = size > limits.max_message_bytes
        parsed: ParsedMail = await self._cpu(parse_mail, raw, limits)
        errors = list(parsed.problems)
        raw_id: str | None = None
        if oversized:
            errors.insert(
                0, f"message is {size} bytes, over the limit of {limits.max_message_bytes}; "
                "only its header was read",
            )  # fmt: skip
        else:
            raw_id = await asyncio.to_thread(self.raw.put, raw)
        redact = self._redact
        assert redact is not None
        subject, kinds_s = redact(parsed.subject)
        sender, kinds_f = redact(parsed.sender)
        body, kinds_b = redact(parsed.text[: limits.body_chars * 4])
        body = body[: limits.body_chars]
        record = MailRecord(
            id=new_robot_id(), mailbox=spec.name, uidvalidity=validity, uid=uid, at=time.time(),
            message_id=parsed.message_id[:998] or None, sender=sender, subject=subject,
            body=body, pii_kinds=sorted(kinds_s | kinds_f | kinds_b), errors=errors,
            raw_document=raw_id,
        )  # fmt: skip
        skipped = spec.accepts(parsed.sender, parsed.subject, len(parsed.attachments))
        if skipped is not None:
            record.errors.append(f"skipped: {skipped}")
        elif not oversized:
            await self._classify_and_act(record, parsed, key)
        # a reason may quote a header (a defect's tokens, a file name): redacted like the rest
        record.errors = [redact(reason)[0] for reason in record.errors]
        await self.store.record_mail(record)
        watch.processed += 1
        counted = record.mail_class or "none"
        watch.by_class[counted] = watch.by_class.get(counted, 0) + 1
        self.metrics.processed(spec.name, counted)
        return record

    def _decide(self, parsed: ParsedMail) -> tuple[str, float, str]:
        mail_class, confidence = self.classifier().predict(parsed.subject, parsed.text)
        settings = self.settings.mail
        if confidence >= settings.threshold:
            return mail_class, confidence, "model"
        for rule in settings.rules:
            if rule.matches(parsed.sender, parsed.subject, parsed.text, len(parsed.attachments)):
                return rule.mail_class, confidence, "rule"
        return mail_class, confidence, "model"

    async def _classify_and_act(self, record: MailRecord, parsed: ParsedMail, key: str) -> None:
        mail_class, confidence, decided_by = await self._cpu(self._decide, parsed)
        record.mail_class, record.confidence, record.decided_by = (
            mail_class, round(confidence, 4), decided_by,
        )  # fmt: skip
        documents: list[AttachedDocument] = []
        for attachment in parsed.attachments:
            try:
                answer = await self.documents.put(attachment.data)
            except BadDocument as exc:
                record.errors.append(f"attachment {attachment.filename!r} refused: {exc}")
                continue
            documents.append(AttachedDocument(answer.id, attachment.filename, answer.media_type))
        record.attachments = [d.document_id for d in documents]
        actions = self.settings.mail.actions.get(mail_class, [])
        robots = plan_robots(key, mail_class, actions, documents)
        if not robots:
            return
        answers = await self.submit([SubmitRequest(robot) for robot in robots])
        for robot, submitted in zip(robots, answers, strict=True):
            if submitted.error is None:
                record.robots.append(submitted.id)
            elif isinstance(submitted.error, UnknownRobotType | ModuleRejected):
                record.errors.append(f"robot {robot.type}: {submitted.error}")
            else:
                raise submitted.error  # queue full or unstorable: the batch is tried again

    # -- what the API asks ------------------------------------------------------------------

    def mailboxes(self) -> list[MailboxStatus]:
        """Every watched mailbox with its state, by name."""
        now = time.time()
        return [self.watches[name].status(now) for name in sorted(self.watches)]

    def _watch_of(self, name: str) -> MailboxWatch:
        watch = self.watches.get(name)
        if watch is None:
            raise MailboxNotFound(f"no mailbox named {name!r}")
        return watch

    async def add_mailbox(self, raw_spec: dict[str, Any]) -> MailboxStatus:
        """Validate, persist and start watching a mailbox.

        Raises ``MailboxRejected`` (422) for a bad spec, :class:`MailboxExists` for a name
        in use.
        """
        from pydantic import ValidationError

        try:
            spec = MailboxSpec.model_validate(raw_spec)
        except ValidationError as exc:
            raise MailboxRejected(f"invalid mailbox: {_problems(exc)}") from None
        problem = api_secret_problem(spec, self.settings.mailbox_secrets())
        if problem is not None:
            raise MailboxRejected(f"invalid mailbox: {problem}")
        if spec.name in self.watches:
            raise MailboxExists(f"a mailbox named {spec.name!r} is already watched")
        await self.store.save_mailbox(StoredMailbox(name=spec.name, spec=spec.model_dump_json()))
        watch = MailboxWatch(spec, "api")
        self.watches[spec.name] = watch
        self._launch(watch)
        return watch.status(time.time())

    async def set_paused(self, name: str, paused: bool) -> MailboxStatus:
        """Pause or resume a mailbox (persisted); raises :class:`MailboxNotFound`."""
        watch = self._watch_of(name)
        await self.store.save_mailbox(
            StoredMailbox(name=name, spec=watch.spec.model_dump_json(), paused=paused)
        )
        watch.paused = paused
        watch.wake.set()
        if not paused:
            watch.started_at = time.time()
        return watch.status(time.time())

    async def remove_mailbox(self, name: str) -> None:
        """Stop watching a mailbox for good (persisted); raises :class:`MailboxNotFound`."""
        watch = self._watch_of(name)
        await self.store.save_mailbox(
            StoredMailbox(name=name, spec=watch.spec.model_dump_json(), removed=True)
        )
        del self.watches[name]
        if watch.task is not None:
            watch.task.cancel()
            await asyncio.gather(watch.task, return_exceptions=True)

    async def label(self, record_id: str, label: str) -> MailRecord:
        """Correct a mail's class; the model learns it and is saved (survives a restart).

        Raises :class:`MailNotFound`, and ``MailboxRejected`` (422) for an unknown class.
        """
        from runtime.mail.mailbox import MAIL_CLASSES

        if label not in MAIL_CLASSES:
            raise MailboxRejected(f"label must be one of {', '.join(MAIL_CLASSES)}")
        record = await self.store.mail_record(record_id)
        if record is None:
            raise MailNotFound(f"no processed mail with id {record_id}")
        subject, body = record.subject or "", record.body or ""
        if record.raw_document:
            try:
                raw = await asyncio.to_thread(self.raw.get, record.raw_document)
                parsed = await self._cpu(parse_mail, raw, self.settings.mail)
                subject, body = parsed.subject, parsed.text
            except KeyError:
                pass
        async with self._learn_lock:
            classifier = await self._cpu(self.classifier)
            await self._cpu(classifier.learn, subject, body, label)
            self.model_path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(classifier.save, self.model_path)
        await self.store.label_mail(record_id, label)
        return record.model_copy(update={"label": label})


def _problems(exc: Any) -> str:
    """A validation error's problems in one line, without the values (a password file path
    is fine to show, a value never is)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'mailbox'}: {e['msg']}" for e in exc.errors()
    )
