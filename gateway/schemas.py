"""Pydantic models of the gateway's queries, bodies and answers; the OpenAPI document uses them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.keys import AuditEntry, Role
from runtime.models import ModuleInfo, ModuleName, Robot, RobotStatus, RobotType
from runtime.text import StoreText

CURSOR_PATTERN = r"^[0-9a-f]{24}$"
"""The form of every id a keyset-paged listing pages by (``runtime.models.new_robot_id``)."""

Cursor = Annotated[
    str,
    Field(
        pattern=CURSOR_PATTERN,
        description="next_cursor of the previous page (24 lower-case hex digits).",
    ),
]
"""A paging cursor: the id of the last entry of the previous page; another text is a 422."""


class RobotListQuery(BaseModel):
    """Query of ``GET /v1/robots``."""

    model_config = ConfigDict(extra="forbid")

    status: RobotStatus | None = None
    type: RobotType | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class Accepted(BaseModel):
    """Answer to an accepted (202) or replayed (200) submit."""

    id: str
    status: RobotStatus


class RobotPage(BaseModel):
    """A page of robots, newest first."""

    robots: list[Robot]
    next_cursor: str | None = None


class ModuleList(BaseModel):
    """Registered modules."""

    modules: list[ModuleInfo]


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)
    details: dict[str, dict[str, str]] | None = Field(
        None, description="mailboxes: each watched mailbox's state (stale does not fail it)."
    )


class CancelAnswer(BaseModel):
    """Answer to a cancel: ``cancelled`` at once (queued), or asked to stop (running)."""

    id: str
    status: RobotStatus
    cancel_requested: bool = Field(
        description="True when the robot was running and has been asked to stop."
    )


class KeyCreate(BaseModel):
    """Body of ``POST /v1/keys``; an admin key cannot be limited to modules."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"role": {"const": "admin"}}, "required": ["role"]},
            "then": {"properties": {"modules": {"type": "null"}}},
        },
    )

    role: Role
    modules: list[ModuleName] | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Limit an operator or viewer key to these modules (at least one); null "
        "means all.",
    )
    expires_in_s: float | None = Field(
        None,
        gt=0,
        le=10 * 365 * 86_400,
        allow_inf_nan=False,
        strict=True,
        description="Seconds until the key expires.",
    )
    name: Annotated[StoreText, Field(max_length=200)] | None = Field(
        None, description="A note on who holds the key."
    )

    @model_validator(mode="after")
    def _admin_is_never_limited(self) -> KeyCreate:
        if self.role is Role.ADMIN and self.modules is not None:
            raise ValueError("an admin key cannot be limited to modules")
        return self


class KeyRotate(BaseModel):
    """Body of ``POST /v1/keys/{key_id}/rotate`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    overlap_s: float = Field(
        3600.0,
        ge=0,
        le=30 * 86_400,
        allow_inf_nan=False,
        strict=True,
        description="How long the old key keeps working (seconds).",
    )


class KeyInfo(BaseModel):
    """A key as listings show it: never the key itself."""

    id: str
    role: Role
    modules: list[str] | None
    name: str | None
    state: str = Field(description="active, rotating, revoked, expired or rotated.")
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    rotated_from: str | None
    overlap_until: float | None


class KeyCreated(KeyInfo):
    """A new key: the only answer that carries the key in plain text."""

    key: str = Field(description="The API key; shown this once, store it now.")


class KeyList(BaseModel):
    """Answer of ``GET /v1/keys``."""

    keys: list[KeyInfo]


class AuditQuery(BaseModel):
    """Query of ``GET /v1/audit``."""

    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A key id, or 'anonymous'."
    )
    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    entries: list[AuditEntry]
    next_cursor: str | None = None
