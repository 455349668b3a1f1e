"""One IMAP connection to one mailbox folder, over aioimaplib, every call under a timeout.

aioimaplib is an asyncio IMAP4rev1 client with IDLE, maintained and typed, with no thread
per connection (imaplib would need one, and IMAPClient is blocking too). Its errors, a
closed connection, a ``BYE`` and a call past ``timeout_s`` all become
:class:`MailboxUnreachable`, after which the caller drops the session and reconnects.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aioimaplib

from runtime.mail.mailbox import MailboxSpec

__all__ = ["CommandRefused", "FolderState", "ImapSession", "MailboxUnreachable"]

T = TypeVar("T")

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxUnreachable(Exception):
    """Raised when the server drops, refuses, says ``BYE`` or does not answer in time."""


class CommandRefused(MailboxUnreachable):
    """Raised when the server answers a command with ``NO`` or ``BAD`` (the link is fine)."""


@dataclass(slots=True)
class FolderState:
    """What the server says of the selected folder: ``UIDVALIDITY`` and ``UIDNEXT``."""

    uidvalidity: int
    uidnext: int


def _lines(response: Any) -> list[bytes]:
    return [bytes(line) for line in response.lines]


class ImapSession:
    """A logged-in connection with the spec's folder selected. Use :meth:`open` to get one."""

    def __init__(self, spec: MailboxSpec, client: aioimaplib.IMAP4) -> None:
        self.spec = spec
        self._client = client
        self.folder = FolderState(0, 0)

    @classmethod
    async def open(cls, spec: MailboxSpec, password: str) -> ImapSession:
        """Connect, log in and select the folder; raises :class:`MailboxUnreachable`."""
        try:
            if spec.tls:
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    spec.host, spec.port, timeout=spec.timeout_s,
                    ssl_context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                client = aioimaplib.IMAP4(spec.host, spec.port, timeout=spec.timeout_s)
        except OSError as exc:
            raise MailboxUnreachable(f"cannot connect: {exc}") from None
        session = cls(spec, client)
        try:
            await session._call(client.wait_hello_from_server())
            login = await session._call(client.login(spec.user, password))
            if login.result != "OK":
                raise MailboxUnreachable("login refused")  # never the password
            await session.select()
        except BaseException:
            await session.close()
            raise
        return session

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            result = await asyncio.wait_for(call, self.spec.timeout_s + 1)
        except TimeoutError:
            raise MailboxUnreachable(f"no answer within {self.spec.timeout_s:g} s") from None
        except (aioimaplib.AioImapException, OSError, ConnectionError) as exc:
            raise MailboxUnreachable(f"{type(exc).__name__}: {exc}") from None
        if self._client.get_state() == "LOGOUT":
            raise MailboxUnreachable("the server closed the connection (BYE)")
        return result

    async def _ok(self, call: Awaitable[Any], what: str) -> list[bytes]:
        response = await self._call(call)
        if response.result != "OK":
            if any(b"BYE" in line for line in _lines(response)):
                raise MailboxUnreachable(f"{what}: the server said BYE")
            raise CommandRefused(f"{what} refused: {response.result}")
        return _lines(response)

    @property
    def idle_offered(self) -> bool:
        """Whether the server offers IDLE (RFC 2177)."""
        return bool(self._client.has_capability("IDLE"))

    async def select(self) -> FolderState:
        """Select the folder; its ``UIDVALIDITY`` and ``UIDNEXT``."""
        lines = await self._ok(self._client.select(self.spec.folder), "SELECT")
        joined = b" ".join(lines)
        validity = _UIDVALIDITY.search(joined)
        uidnext = _UIDNEXT.search(joined)
        if validity is None:
            raise MailboxUnreachable("SELECT gave no UIDVALIDITY")
        self.folder = FolderState(int(validity[1]), int(uidnext[1]) if uidnext else 0)
        return self.folder

    async def refresh(self) -> FolderState:
        """A fresh ``UIDVALIDITY`` and ``UIDNEXT`` of the selected folder (a round trip)."""
        lines = await self._ok(
            self._client.status(self.spec.folder, "(UIDNEXT UIDVALIDITY)"), "STATUS"
        )
        joined = b" ".join(lines)
        validity = _UIDVALIDITY.search(joined)
        uidnext = _UIDNEXT.search(joined)
        if validity and uidnext:
            self.folder = FolderState(int(validity[1]), int(uidnext[1]))
        return self.folder

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` in the folder, ascending.

        A ``NOOP`` first: the server takes in mail appended by other sessions at a NOOP,
        not necessarily at a SEARCH.
        """
        await self._ok(self._client.noop(), "NOOP")
        lines = await self._ok(
            self._client.uid_search(f"UID {last_uid + 1}:*", charset=None), "UID SEARCH"
        )
        found: set[int] = set()
        for line in lines:
            if line.startswith(b"SEARCH"):
                found.update(int(word) for word in line.split()[1:] if word.isdigit())
            elif line and line.split()[0].isdigit():
                found.update(int(word) for word in line.split() if word.isdigit())
        return sorted(uid for uid in found if uid > last_uid)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of each UID (bytes)."""
        if not uids:
            return {}
        lines = await self._ok(
            self._client.uid("fetch", ",".join(map(str, uids)), "(RFC822.SIZE)"), "FETCH SIZE"
        )
        sizes: dict[int, int] = {}
        for line in lines:
            uid, size = _FETCH_UID.search(line), _SIZE.search(line)
            if uid and size:
                sizes[int(uid[1])] = int(size[1])
        return sizes

    async def fetch(self, uid: int, headers_only: bool = False) -> bytes | None:
        """The raw message (or only its header), without setting ``\\Seen``; None if gone."""
        part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        lines = await self._call(self._client.uid("fetch", str(uid), f"({part})"))
        if lines.result != "OK":
            raise MailboxUnreachable(f"FETCH failed: {lines.result}")
        literals = [bytes(line) for line in lines.lines if isinstance(line, bytearray)]
        return literals[0] if literals else None

    async def mark_read(self, uid: int) -> None:
        """Set ``\\Seen`` on a message."""
        await self._ok(self._client.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)"), "STORE")

    async def move(self, uid: int, folder: str) -> None:
        """Move a message to another folder (``MOVE``, else copy, delete and expunge)."""
        if self._client.has_capability("MOVE"):
            await self._ok(self._client.uid("move", str(uid), folder), "MOVE")
            return
        await self._ok(self._client.uid("copy", str(uid), folder), "COPY")
        await self._ok(self._client.uid("store", str(uid), "+FLAGS.SILENT (\\Deleted)"), "STORE")
        await self._ok(self._client.expunge(), "EXPUNGE")

    async def wait_for_news(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the server to announce a change: IDLE if offered, else
        a plain wait then ``NOOP``. Raises :class:`MailboxUnreachable` on a drop."""
        if not (self.spec.idle and self.idle_offered):
            await asyncio.sleep(seconds)
            await self._ok(self._client.noop(), "NOOP")
            return
        idle = await self._call(self._client.idle_start(timeout=seconds))
        try:
            pushed = await asyncio.wait_for(self._client.wait_server_push(), seconds + 5)
            if any(b"BYE" in bytes(line) for line in pushed or ()):
                raise MailboxUnreachable("the server said BYE during IDLE")
        except TimeoutError:
            pass
        finally:
            if self._client.has_pending_idle():
                self._client.idle_done()
        await self._call(idle)

    async def close(self) -> None:
        """Log out (best effort, bounded) and drop the connection."""
        try:
            await asyncio.wait_for(self._client.logout(), 2)
        except Exception:
            pass
        transport = getattr(self._client.protocol, "transport", None)
        if transport is not None:
            transport.close()
