"""What the store keeps of mail: a record per processed mail and a cursor per mailbox."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["MailCursor", "MailPage", "MailRecord", "StoredMailbox", "mail_key"]


def mail_key(mailbox: str, uidvalidity: int, uid: int) -> str:
    """The identity of one mail on its server: ``<mailbox>:<UIDVALIDITY>:<UID>``.

    Robots made from the mail carry it (plus the action's index) as their idempotency key.
    """
    return f"{mailbox}:{uidvalidity}:{uid}"


class MailRecord(BaseModel):
    """One processed mail, as ``GET /v1/mail`` shows it; its texts are already redacted.

    ``decided_by`` is ``model`` (the classifier was confident), ``rule`` (a config rule
    below the threshold), ``label`` (an operator's correction), or ``none`` (no class:
    filtered out or unreadable). ``errors`` holds every problem met while reading or acting.
    """

    id: str
    mailbox: str
    uidvalidity: int
    uid: int
    at: float = Field(description="Unix time the mail was processed.")
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    body: str | None = Field(None, description="The start of the text body, redacted.")
    mail_class: str | None = Field(None, alias="class")
    confidence: float | None = None
    decided_by: str = "none"
    pii_kinds: list[str] = Field(default_factory=list)
    robots: list[str] = Field(default_factory=list, description="Ids of the robots it made.")
    errors: list[str] = Field(default_factory=list)
    raw_document: str | None = Field(None, description="SHA-256 of the raw message kept.")
    attachments: list[str] = Field(default_factory=list, description="Document ids.")
    label: str | None = Field(None, description="The class an operator set, if any.")

    model_config = {"populate_by_name": True}


class MailPage(BaseModel):
    """One page of processed mail, newest first, and the cursor of the next page."""

    mail: list[MailRecord]
    next_cursor: str | None = None


class MailCursor(BaseModel):
    """How far a mailbox is processed: every UID up to ``last_uid`` of ``uidvalidity``."""

    mailbox: str
    uidvalidity: int
    last_uid: int


class StoredMailbox(BaseModel):
    """A mailbox added at run time (or paused, or removed), as the store keeps it."""

    name: str
    spec: str = Field(description="The MailboxSpec as JSON.")
    paused: bool = False
    removed: bool = False
