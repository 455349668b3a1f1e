"""What a watched mailbox is (``[[mailboxes]]`` in the config) and what mail turns into.

A mailbox names its server, account, folder and filters; its password never sits in the
config: ``password_env`` names an environment variable, ``password_file`` a file, and
:func:`mailbox_password` reads one of them when the monitor connects. ``[mail]`` holds what
every mailbox shares: the class -> robot actions, the rules that decide below the confidence
threshold, the batch size and the bounds on what one mail may hold.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.errors import ConfigError

__all__ = [
    "MAIL_CLASSES",
    "MailAction",
    "MailRule",
    "MailSettings",
    "MAILBOX_ENV_PREFIX",
    "MailboxSpec",
    "api_secret_problem",
    "mailbox_password",
]

MAIL_CLASSES = ("invoice", "reminder", "support", "spam", "other")
"""The classes the classifier answers with."""

MAILBOX_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

MAILBOX_ENV_PREFIX = "ROBOFLEET_MAILBOX_"
"""What the name of a ``password_env`` given through the API must start with: an API key
may point the email monitor at a mailbox password, never at the process's other variables
(a mailbox on an attacker's host would receive their value as its password)."""


class MailboxSpec(BaseModel):
    """One watched mailbox: server, account, folder, filters and what to do after processing.

    ``stale_after_s``: a mailbox with no successful server round trip for this long shows
    ``stale``. ``idle``: use IMAP IDLE when the server offers it (else poll every
    ``poll_interval_s``); an IDLE is renewed every ``idle_renew_s`` (under the 29 minutes
    RFC 2177 allows). Filters are case-insensitive regular expressions; a mail that fails
    one is recorded as skipped and makes no robot.
    """

    model_config = ConfigDict(
        extra="forbid",
        # What the validator below checks, said in the schema too: a password source, and a
        # folder to move to when mail is moved.
        json_schema_extra={
            "anyOf": [
                {"required": ["password_env"], "properties": {"password_env": {"type": "string"}}},
                {
                    "required": ["password_file"],
                    "properties": {"password_file": {"type": "string"}},
                },
            ],
            "if": {"properties": {"after": {"const": "move"}}, "required": ["after"]},
            "then": {
                "required": ["move_to"],
                "properties": {"move_to": {"type": "string", "minLength": 1}},
            },
        },
    )

    name: str = Field(pattern=MAILBOX_NAME, description="Stable name of the mailbox.")
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(993, ge=1, le=65535)
    tls: bool = Field(True, description="IMAP over TLS (port 993); false for plain IMAP.")
    user: str = Field(min_length=1, max_length=320)
    password_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Environment variable."
    )
    password_file: str | None = Field(None, min_length=1, description="File holding it.")
    folder: str = Field("INBOX", min_length=1, max_length=200)
    from_filter: str | None = Field(None, description="Regex the sender must match.")
    subject_filter: str | None = Field(None, description="Regex the subject must match.")
    attachments_only: bool = Field(False, description="Only mail with a document attachment.")
    after: Literal["mark_read", "move", "leave"] = Field("leave")
    move_to: str | None = Field(None, description="Folder for after = 'move'.")
    idle: bool = True
    idle_renew_s: float = Field(25 * 60, gt=0, lt=29 * 60)
    poll_interval_s: float = Field(30.0, gt=0)
    stale_after_s: float = Field(120.0, gt=0)
    timeout_s: float = Field(30.0, gt=0, description="Bound on every IMAP call.")

    @model_validator(mode="after")
    def _check(self) -> MailboxSpec:
        if self.password_env is None and self.password_file is None:
            raise ValueError("a mailbox needs password_env or password_file")
        if self.after == "move" and not self.move_to:
            raise ValueError("after = 'move' needs move_to")
        for pattern in (self.from_filter, self.subject_filter):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"bad filter {pattern!r}: {exc}") from None
        return self

    def accepts(self, sender: str, subject: str, attachments: int) -> str | None:
        """Why a mail is filtered out (None: it is processed)."""
        if self.from_filter and not re.search(self.from_filter, sender, re.IGNORECASE):
            return "sender does not match from_filter"
        if self.subject_filter and not re.search(self.subject_filter, subject, re.IGNORECASE):
            return "subject does not match subject_filter"
        if self.attachments_only and attachments == 0:
            return "no document attachment (attachments_only)"
        return None


def api_secret_problem(spec: MailboxSpec, secrets_dir: Path) -> str | None:
    """Why a mailbox added through the API may not use its password source (None: it may).

    Through the API, ``password_env`` must start with :data:`MAILBOX_ENV_PREFIX` and
    ``password_file`` must be an absolute path to a file inside ``secrets_dir`` once symlinks
    and ``..`` are resolved
    (on the head node, where the email monitor reads it). The config file, written by the
    operator, may name any variable or file.
    """
    env = spec.password_env
    if env is not None and (not env.startswith(MAILBOX_ENV_PREFIX) or env == MAILBOX_ENV_PREFIX):
        return (
            f"password_env must name a variable starting with {MAILBOX_ENV_PREFIX} "
            f"(got {env}); other variables can be used only from the config file"
        )
    if spec.password_file is not None:
        root = secrets_dir.expanduser().resolve()
        given = Path(spec.password_file)
        if not given.is_absolute():
            # the monitor reads it from its own working directory, not from the secrets dir
            return (
                f"password_file must be an absolute path inside the mailbox secrets directory "
                f"{root} (ROBOFLEET_MAILBOX_SECRETS_DIR), e.g. {root / 'imap-password'}"
            )
        target = given.resolve()
        if target == root or not target.is_relative_to(root):
            return (
                f"password_file must lie inside the mailbox secrets directory {root} "
                "(ROBOFLEET_MAILBOX_SECRETS_DIR); other files can be used only from the "
                "config file"
            )
    return None


def mailbox_password(spec: MailboxSpec, environ: dict[str, str] | None = None) -> str:
    """The mailbox's password from its environment variable or file.

    Raises :class:`~runtime.errors.ConfigError` (naming the variable or file, never the
    value) when neither gives one.
    """
    env = os.environ if environ is None else environ
    if spec.password_env:
        value = env.get(spec.password_env)
        if value:
            return value
        if not spec.password_file:
            raise ConfigError(f"mailbox {spec.name}: environment variable {spec.password_env} "
                              "is not set")
    assert spec.password_file is not None
    try:
        return Path(spec.password_file).expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"mailbox {spec.name}: cannot read password file {spec.password_file}: "
            f"{exc.strerror}"
        ) from None


class MailAction(BaseModel):
    """A robot made for each mail of a class: ``type`` once, or once per attachment."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100)
    per_attachment: bool = Field(False, description="One robot per document attachment.")
    priority: int = Field(5, ge=0, le=9)


class MailRule(BaseModel):
    """Below the confidence threshold: a mail matching this rule gets ``mail_class``.

    Rules are tried in order; the first that matches decides. With none matching, the
    model's answer stands.
    """

    # settings travel to actors as model_dump() (field names), files say ``class``
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mail_class: Literal["invoice", "reminder", "support", "spam", "other"] = Field(
        alias="class"
    )
    subject: str | None = Field(None, description="Regex on the subject.")
    sender: str | None = Field(None, description="Regex on the sender.")
    body: str | None = Field(None, description="Regex on the text body.")
    has_attachment: bool | None = None

    def matches(self, sender: str, subject: str, body: str, attachments: int) -> bool:
        """Whether every condition the rule sets holds for the mail."""
        checks = ((self.subject, subject), (self.sender, sender), (self.body, body))
        for pattern, text in checks:
            if pattern is not None and not re.search(pattern, text, re.IGNORECASE):
                return False
        return self.has_attachment is None or self.has_attachment == (attachments > 0)


def _default_actions() -> dict[str, list[MailAction]]:
    return {
        "invoice": [MailAction(type="invoice.extract", per_attachment=True)],
        "spam": [],
    }


class MailSettings(BaseModel):
    """``[mail]``: what every mailbox shares."""

    model_config = ConfigDict(extra="forbid")

    actions: dict[str, list[MailAction]] = Field(default_factory=_default_actions)
    threshold: float = Field(0.6, ge=0, le=1, description="Below it, the rules decide.")
    rules: list[MailRule] = Field(default_factory=list)
    batch_size: int = Field(25, ge=1, le=1000, description="Mails fetched and parsed at once.")
    max_message_bytes: int = Field(
        40 * 1024 * 1024, ge=1024, description="Larger mail: only its header is read."
    )
    max_batch_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Raw mail held at once while processing."
    )
    max_attachment_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_unpacked_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Zip bomb bound.")
    max_parts: int = Field(200, ge=1)
    body_chars: int = Field(2000, ge=0, description="Redacted body text kept per mail.")
    model_path: str | None = Field(None, description="Learned model (default: data dir).")

    @model_validator(mode="after")
    def _known_classes(self) -> MailSettings:
        unknown = set(self.actions) - set(MAIL_CLASSES)
        if unknown:
            raise ValueError(f"actions for unknown classes: {sorted(unknown)}")
        return self
