"""A raw mail into what the monitor needs: sender, subject, text, document attachments, problems.

The stdlib ``email`` package reads it with the default policy; where that policy raises on a
header (it does on some real ones: a ``name*`` parameter with no value, a ``Message-ID`` of
``<[..]>``) the mail is read again with ``compat32``, and the fallback is recorded. HTML bodies
are sanitised with nh3 (the maintained successor of bleach) before their text is taken.

Nothing here raises on bad mail: every problem becomes a line of :attr:`ParsedMail.problems`
and the mail is processed as far as it goes. Attachments are bounded in size and count, and a
zip is opened only after its declared sizes pass the unpacked bound (a zip bomb is refused).
"""

from __future__ import annotations

import email
import email.policy
import html
import io
import zipfile
from dataclasses import dataclass, field
from email.message import Message

import nh3

from runtime.mail.mailbox import MailSettings
from runtime.ocr.documents import MEDIA_TYPES, sniff_media_type

__all__ = ["Attachment", "ParsedMail", "parse_mail"]

MAX_DEPTH = 20
"""Deeper multipart nesting than this is recorded and not walked further."""
ZIP_RATIO = 100
"""A zip member unpacking to more than this many times its packed size is a bomb."""


@dataclass(slots=True)
class Attachment:
    """A document attachment (PDF, PNG, JPEG, TIFF): its file name, sniffed type and bytes."""

    filename: str
    media_type: str
    data: bytes


@dataclass(slots=True)
class ParsedMail:
    """What a mail says, as far as it could be read; ``problems`` says what could not."""

    sender: str = ""
    subject: str = ""
    message_id: str = ""
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _text(value: object) -> str:
    """A header or payload as clean text: undecodable bytes replaced, NUL dropped."""
    text = str(value) if value is not None else ""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _html_text(markup: str) -> str:
    """The text of an HTML body: sanitised by nh3, then every tag stripped."""
    safe = nh3.clean(markup)
    return html.unescape(nh3.clean(safe, tags=set()))


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _part_text(part: Message, problems: list[str]) -> str:
    data = _payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        problems.append(f"unknown charset {charset!r}; read as UTF-8")
        return data.decode("utf-8", "replace")


def _filename(part: Message, problems: list[str] | None = None) -> str:
    try:
        name = part.get_filename()
    except Exception as exc:
        if problems is not None:
            problems.append(f"unreadable file name parameter ({type(exc).__name__}: {exc})")
        name = None
    return _text(name or "")


def _unzip(name: str, data: bytes, limits: MailSettings, mail: ParsedMail) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        mail.problems.append(f"attachment {name!r} is not a readable zip: {exc}")
        return
    declared = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if declared > limits.max_unpacked_bytes or declared > packed * ZIP_RATIO:
        mail.problems.append(
            f"attachment {name!r} is a zip bomb: {declared} bytes unpacked from {packed}"
        )
        return
    for member in members[: limits.max_parts]:
        if member.is_dir() or member.file_size > limits.max_attachment_bytes:
            continue
        try:
            content = archive.read(member)
        except Exception as exc:  # corrupt member, bad CRC, encrypted
            mail.problems.append(f"zip member {member.filename!r} unreadable: {exc}")
            continue
        media_type = sniff_media_type(content)
        if media_type:
            mail.attachments.append(Attachment(member.filename, media_type, content))


def _attachment(part: Message, limits: MailSettings, mail: ParsedMail) -> None:
    name = _filename(part, mail.problems) or "(unnamed)"
    data = _payload_bytes(part)
    if not data:
        return
    if len(data) > limits.max_attachment_bytes:
        mail.problems.append(
            f"attachment {name!r} is {len(data)} bytes, over the limit of "
            f"{limits.max_attachment_bytes}"
        )
        return
    media_type = sniff_media_type(data)
    declared = part.get_content_type()
    if media_type:
        mail.attachments.append(Attachment(name, media_type, data))
    elif declared in MEDIA_TYPES:
        mail.problems.append(f"attachment {name!r} says {declared} but is no such document")
    elif data[:4] == b"PK\x03\x04" or name.lower().endswith(".zip"):
        _unzip(name, data, limits, mail)


def _walk(msg: Message, limits: MailSettings, mail: ParsedMail) -> None:
    texts: list[str] = []
    htmls: list[str] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            mail.problems.append(f"more than {limits.max_parts} parts; the rest were skipped")
            break
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                mail.problems.append(f"multipart nested deeper than {MAX_DEPTH}; not read")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        if disposition == "attachment" or _filename(part) or ctype.startswith(
            ("application/", "image/")
        ):
            _attachment(part, limits, mail)
        elif ctype == "text/html":
            htmls.append(_part_text(part, mail.problems))
        elif ctype.startswith("text/") or ctype == "message/rfc822":
            texts.append(_part_text(part, mail.problems))
    body = "\n".join(t for t in texts if t.strip())
    if not body and htmls:
        body = "\n".join(_html_text(h) for h in htmls)
    mail.text = _text(body)


def _read(raw: bytes, policy: email.policy.Policy, limits: MailSettings) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=policy)
    mail = ParsedMail(
        sender=_text(msg.get("From", "")),
        subject=_text(msg.get("Subject", "")),
        message_id=_text(msg.get("Message-ID", "")),
    )
    _walk(msg, limits, mail)
    for part in msg.walk() if len(mail.problems) < 20 else ():
        for defect in getattr(part, "defects", ()):
            mail.problems.append(f"{type(defect).__name__}: {defect}".strip(": "))
        for name, value in part.items():
            for defect in getattr(value, "defects", ()):
                mail.problems.append(f"header {name}: {type(defect).__name__}: {defect}"[:300])
    return mail


def _header_problems(raw: bytes) -> list[str]:
    end = raw.find(b"\r\n\r\n")
    head = raw[: end if end >= 0 else raw.find(b"\n\n")]
    if any(byte > 127 for byte in head):
        return ["8-bit bytes in the headers (not RFC 2047 encoded)"]
    return []


def parse_mail(raw: bytes, limits: MailSettings) -> ParsedMail:
    """Read a raw RFC 5322 message; never raises on bad mail (see the module docstring)."""
    early = _header_problems(raw)
    try:
        mail = _read(raw, email.policy.default, limits)
        mail.problems[:0] = early
        return mail
    except Exception as exc:
        first = f"default policy failed ({type(exc).__name__}: {exc}); read with compat32"
    try:
        mail = _read(raw, email.policy.compat32, limits)
    except Exception as exc:
        return ParsedMail(problems=[*early, first, f"unreadable with compat32: {exc}"])
    mail.problems[:0] = [*early, first]
    return mail
