"""Mail routes: processed mail (``/v1/mail``) and watched mailboxes (``/v1/mailboxes``).

Processed mail is read from the store (keyset pages, newest first); labels, mailboxes and
their live state go to the ``email-monitor`` actor through a :class:`MailDesk`. The
``robofleet mail`` commands use these routes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit import AUDIT_TARGET
from gateway.errors import ApiError
from gateway.http import json_response, parse, read_json
from gateway.readiness import MailboxReadiness
from gateway.schemas import Cursor
from gateway.spec import body, json_answer, operation, path_id, query_parameters
from gateway.state import STORE
from runtime.errors import RobofleetError
from runtime.keys import Permission
from runtime.mail.mailbox import MAILBOX_NAME, MailboxSpec
from runtime.mail.records import MailPage, MailRecord
from runtime.messages import MailboxStatus

__all__ = [
    "MAIL_DESK", "MODELS", "PATHS", "ROUTES", "DeskMailboxes", "MailDesk", "mail_metrics_text",
]  # fmt: skip

DESK_TIMEOUT_S = 30.0


class MailDesk(Protocol):
    """What the gateway asks of the email monitor (``EmailMonitorClient`` on Ray)."""

    async def mailboxes(self) -> list[MailboxStatus]:
        """Every watched mailbox with its state."""
        ...

    async def add_mailbox(self, raw_spec: dict[str, Any]) -> MailboxStatus:
        """Add and start a mailbox; raises MailboxRejected or MailboxExists."""
        ...

    async def set_paused(self, name: str, paused: bool) -> MailboxStatus:
        """Pause or resume; raises MailboxNotFound."""
        ...

    async def remove_mailbox(self, name: str) -> None:
        """Stop watching for good; raises MailboxNotFound."""
        ...

    async def label(self, record_id: str, label: str) -> MailRecord:
        """Correct a mail's class (the model learns it); raises MailNotFound."""
        ...


MAIL_DESK = web.AppKey("mail_desk", MailDesk)


class MailQuery(BaseModel):
    """Query of ``GET /v1/mail``."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str | None = Field(None, pattern=MAILBOX_NAME)
    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class MailLabel(BaseModel):
    """Body of ``POST /v1/mail/{mail_id}/label``: the right class of the mail."""

    model_config = ConfigDict(extra="forbid")

    label: Literal["invoice", "reminder", "support", "spam", "other"]


class MailboxView(BaseModel):
    """A watched mailbox and its health (never its password)."""

    name: str
    host: str
    port: int
    user: str
    folder: str
    state: Literal["watching", "connecting", "stale", "misconfigured", "unreachable", "paused"]
    paused: bool
    idle: bool
    last_contact: float | None = Field(description="Unix time of the last server round trip.")
    stale_after_s: float
    uidvalidity: int | None
    uidnext: int | None = Field(description="The server's UIDNEXT at the last contact.")
    last_uid: int | None = Field(description="Every UID up to this one is processed.")
    processed: int = Field(description="Mails processed since the monitor started.")
    by_class: dict[str, int]
    error: str | None = Field(description="Why the last connection failed, if it did.")
    source: Literal["config", "api"]


class MailboxList(BaseModel):
    """Every watched mailbox."""

    mailboxes: list[MailboxView]


def _view(status: MailboxStatus) -> dict[str, Any]:
    return MailboxView.model_validate(status, from_attributes=True).model_dump(mode="json")


def _desk(request: web.Request) -> MailDesk:
    desk = request.app.get(MAIL_DESK)
    if desk is None:
        raise ApiError(503, "mail_unavailable", "the email monitor is not deployed here")
    return desk


async def _ask(call: Any) -> Any:
    try:
        return await asyncio.wait_for(call, DESK_TIMEOUT_S)
    except RobofleetError:
        raise
    except ApiError:
        raise
    except Exception:
        raise ApiError(503, "mail_unavailable", "the email monitor did not answer") from None


async def list_mail(request: web.Request) -> web.Response:
    """``GET /v1/mail``: processed mail newest first (redacted), keyset-paginated."""
    query = parse(MailQuery, dict(request.query))
    page = await request.app[STORE].list_mail(query.limit, query.cursor, query.mailbox)
    return json_response(page.model_dump(mode="json", by_alias=True))


async def label_mail(request: web.Request) -> web.Response:
    """``POST /v1/mail/{mail_id}/label``: correct a mail's class; the model learns it."""
    mail_id = request.match_info["mail_id"]
    label = parse(MailLabel, await read_json(request), strict=True).label
    record = await _ask(_desk(request).label(mail_id, label))
    request[AUDIT_TARGET] = mail_id
    return json_response(record.model_dump(mode="json", by_alias=True))


async def list_mailboxes(request: web.Request) -> web.Response:
    """``GET /v1/mailboxes``: every watched mailbox with its state."""
    found = await _ask(_desk(request).mailboxes())
    return json_response({"mailboxes": [_view(s) for s in found]})


async def add_mailbox(request: web.Request) -> web.Response:
    """``POST /v1/mailboxes``: watch a mailbox from now on (admin)."""
    raw = await read_json(request)
    spec = parse(MailboxSpec, raw, strict=True)
    status = await _ask(_desk(request).add_mailbox(spec.model_dump(mode="json")))
    request[AUDIT_TARGET] = spec.name
    return json_response(_view(status), 201)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    request[AUDIT_TARGET] = name
    return name


async def pause_mailbox(request: web.Request) -> web.Response:
    """``POST /v1/mailboxes/{name}/pause``: stop watching until resumed (admin)."""
    return json_response(_view(await _ask(_desk(request).set_paused(_name(request), True))))


async def resume_mailbox(request: web.Request) -> web.Response:
    """``POST /v1/mailboxes/{name}/resume``: watch again from the cursor (admin)."""
    return json_response(_view(await _ask(_desk(request).set_paused(_name(request), False))))


async def delete_mailbox(request: web.Request) -> web.Response:
    """``DELETE /v1/mailboxes/{name}``: stop watching for good (admin)."""
    await _ask(_desk(request).remove_mailbox(_name(request)))
    return web.Response(status=204)


async def mail_metrics_text(app: web.Application) -> bytes:
    """The mailboxes' figures in Prometheus text: last contact, stale, processed per class.

    Empty when the email monitor is not deployed or does not answer within 2 s.
    """
    desk = app.get(MAIL_DESK)
    if desk is None:
        return b""
    try:
        found = await asyncio.wait_for(desk.mailboxes(), 2.0)
    except Exception:
        return b""
    lines = [
        "# HELP robofleet_mailbox_last_contact_timestamp_seconds Unix time of the last "
        "successful IMAP round trip",
        "# TYPE robofleet_mailbox_last_contact_timestamp_seconds gauge",
    ]
    lines += [
        f'robofleet_mailbox_last_contact_timestamp_seconds{{mailbox="{s.name}"}} '
        f"{s.last_contact or 0}"
        for s in found
    ]
    lines += [
        "# HELP robofleet_mailbox_stale 1 when the mailbox is silent past its bound",
        "# TYPE robofleet_mailbox_stale gauge",
    ]
    lines += [
        f'robofleet_mailbox_stale{{mailbox="{s.name}"}} {1 if s.state == "stale" else 0}'
        for s in found
    ]
    lines += [
        "# HELP robofleet_mail_processed_total Mail processed since the monitor started",
        "# TYPE robofleet_mail_processed_total counter",
    ]
    lines += [
        f'robofleet_mail_processed_total{{mailbox="{s.name}",class="{c}"}} {n}'
        for s in found
        for c, n in sorted(s.by_class.items())
    ]
    return ("\n".join(lines) + "\n").encode()


class DeskMailboxes:
    """The email monitor's mailboxes as ``/readyz`` details (a ``MailboxWatch``)."""

    def __init__(self, desk: MailDesk) -> None:
        self._desk = desk

    async def mailbox_states(self) -> list[MailboxReadiness]:
        """Each watched mailbox: ``watching`` is ``ok``; other states keep their name."""
        return [
            MailboxReadiness(
                name=found.name,
                status="ok" if found.state == "watching" else found.state,  # type: ignore[arg-type]
                last_contact_at=found.last_contact,
                detail=found.error,
            )
            for found in await self._desk.mailboxes()
        ]


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/mail", list_mail), Permission.READ),
    (web.post("/v1/mail/{mail_id}/label", label_mail), Permission.OPERATE),
    (web.get("/v1/mailboxes", list_mailboxes), Permission.READ),
    (web.post("/v1/mailboxes", add_mailbox), Permission.ADMIN),
    (web.post("/v1/mailboxes/{name}/pause", pause_mailbox), Permission.ADMIN),
    (web.post("/v1/mailboxes/{name}/resume", resume_mailbox), Permission.ADMIN),
    (web.delete("/v1/mailboxes/{name}", delete_mailbox), Permission.ADMIN),
]
"""The mail routes with the permission a key needs to call each."""

MODELS: list[type[BaseModel]] = [
    MailQuery, MailLabel, MailRecord, MailPage, MailboxSpec, MailboxView, MailboxList,
]  # fmt: skip
"""The models :data:`PATHS` refers to."""

_NAME = [path_id("name", MAILBOX_NAME)]

PATHS: dict[str, Any] = {
    "/v1/mail": {
        "get": operation(
            "listMail",
            "Processed mail, newest first, with class, confidence, PII kinds, robots, errors",
            {"200": json_answer(MailPage, "a page of processed mail")},
            (422,),
            parameters=query_parameters(MailQuery),
        ),
    },
    "/v1/mail/{mail_id}/label": {
        "post": operation(
            "labelMail",
            "Correct a processed mail's class; the classifier learns it",
            {"200": json_answer(MailRecord, "the mail with its label")},
            (400, 404, 422, 503),
            parameters=[path_id("mail_id")],
            requestBody=body(MailLabel),
        ),
    },
    "/v1/mailboxes": {
        "get": operation(
            "listMailboxes",
            "Watched mailboxes and their state (watching, connecting, stale, paused)",
            {"200": json_answer(MailboxList, "the mailboxes")},
            (503,),
        ),
        "post": operation(
            "addMailbox",
            "Watch a mailbox (admin); its password comes from password_env (a ROBOFLEET_MAILBOX_ "
            "variable) or password_file (inside the mailbox secrets directory)",
            {"201": json_answer(MailboxView, "the mailbox")},
            (400, 409, 422, 503),
            requestBody=body(MailboxSpec),
        ),
    },
    "/v1/mailboxes/{name}/pause": {
        "post": operation(
            "pauseMailbox",
            "Stop watching a mailbox until resumed (admin)",
            {"200": json_answer(MailboxView, "the mailbox")},
            (404, 503),
            parameters=_NAME,
        ),
    },
    "/v1/mailboxes/{name}/resume": {
        "post": operation(
            "resumeMailbox",
            "Watch a paused mailbox again from its cursor (admin)",
            {"200": json_answer(MailboxView, "the mailbox")},
            (404, 503),
            parameters=_NAME,
        ),
    },
    "/v1/mailboxes/{name}": {
        "delete": operation(
            "deleteMailbox",
            "Stop watching a mailbox for good (admin)",
            {"204": {"description": "removed"}},
            (404, 503),
            parameters=_NAME,
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
