"""API keys and roles: what a key may do, how it is generated, hashed and checked.

A key is shown to its owner once; the store keeps only its SHA-256 hash. Roles:

- ``admin``: everything, including key and module management and the audit log;
- ``operator``: submit, cancel and read robots (of its allowed modules, when it has a list);
- ``viewer``: read only (likewise limited to its modules, when it has a list).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from enum import StrEnum

from pydantic import BaseModel, Field

from runtime.messages import AuditCaller
from runtime.models import new_robot_id

KEY_PREFIX = "rf_"


class Role(StrEnum):
    """What an API key may do."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    """What a route needs of the key calling it."""

    PUBLIC = "public"
    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.PUBLIC, Permission.READ, Permission.OPERATE}),
    Role.VIEWER: frozenset({Permission.PUBLIC, Permission.READ}),
}

_NEEDS = {
    Permission.READ: "read access",
    Permission.OPERATE: "the operator or admin role (submit and cancel robots)",
    Permission.ADMIN: "the admin role",
}


class ApiKey(BaseModel):
    """An API key as the store records it: never the key itself, only its hash."""

    id: str
    key_hash: str
    role: Role
    modules: list[str] | None = Field(
        None, description="Modules the key is limited to; null means every module."
    )
    name: str | None = None
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_from: str | None = Field(None, description="Id of the key this one replaced.")
    overlap_until: float | None = Field(
        None, description="Set when the key was rotated: it stays valid until then."
    )

    def problem(self, now: float | None = None) -> str | None:
        """Why the key cannot be used at ``now`` (revoked, expired, rotated), or None."""
        now = time.time() if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "the API key was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "the API key has expired"
        if self.overlap_until is not None and now >= self.overlap_until:
            return "the API key was rotated and its overlap window has ended"
        return None

    def state(self, now: float | None = None) -> str:
        """One word for listings: active, rotating, revoked, expired or rotated."""
        problem = self.problem(now)
        if problem is None:
            return "rotating" if self.overlap_until is not None else "active"
        return problem.split()[-1] if "rotated" not in problem else "rotated"

    def may(self, permission: Permission) -> bool:
        """Whether the key's role grants ``permission``."""
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def unscoped(self) -> bool:
        """Whether the key may act on every module (an admin, or no module list)."""
        return self.role is Role.ADMIN or self.modules is None

    def allows_module(self, module: str) -> bool:
        """Whether the key may act on robots of ``module``."""
        return self.unscoped or module in (self.modules or ())


def denial(role: Role, permission: Permission) -> str:
    """The 403 reason when ``role`` lacks ``permission``."""
    return f"role {role.value!r} may not do this: it needs {_NEEDS.get(permission, permission)}"


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored and looked up."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_secret() -> str:
    """A new random API key (256 bits of randomness), as shown once to its owner."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_api_key(
    role: Role,
    modules: list[str] | None = None,
    expires_in_s: float | None = None,
    name: str | None = None,
    rotated_from: str | None = None,
    now: float | None = None,
) -> tuple[str, ApiKey]:
    """Generate a key; return the plain key (show it once) and the record to store."""
    now = time.time() if now is None else now
    secret = new_key_secret()
    record = ApiKey(
        id=os.urandom(6).hex(),
        key_hash=hash_key(secret),
        role=role,
        modules=sorted(set(modules)) if modules is not None else None,
        name=name,
        created_at=now,
        expires_at=now + expires_in_s if expires_in_s is not None else None,
        rotated_from=rotated_from,
    )
    return secret, record


class AuditEntry(BaseModel):
    """One audited call: who did what to which target, with which outcome, when."""

    id: str
    at: float
    request_id: str
    actor: str = Field(description="Key id, or 'anonymous' when no valid key was given.")
    client: str | None = Field(None, description="Client address.")
    action: str = Field(description="Method and route template, e.g. 'POST /v1/robots'.")
    target: str | None = Field(None, description="Robot id, key id or module name acted on.")
    outcome: str = Field(description="'ok', 'denied', 'unauthenticated', 'rejected' or 'error'.")
    status: int
    detail: str | None = None


def accepted_entry(robot_id: str, caller: AuditCaller) -> AuditEntry:
    """The audit entry of a robot accepted (202): written by the store with the robot.

    ``caller`` is what the gateway knew of the request (request id, key id, client address,
    action).
    """
    return AuditEntry(
        id=new_robot_id(),
        at=time.time(),
        request_id=caller.request_id,
        actor=caller.actor,
        client=caller.client,
        action=caller.action,
        target=robot_id,
        outcome="ok",
        status=202,
        detail=None,
    )
