"""Notification routes: the in-app feed and the outbox (``GET /v1/notifications``), the
dead letter's replay (``POST /v1/notifications/{delivery_id}/replay``) and the webhook
endpoints a 410 disabled (``GET /v1/webhooks``, ``POST /v1/webhooks/{name}/enable``).

An admin key sees every delivery of every channel (the dead letter is ``?state=dead``);
any other key sees the in-app notifications addressed to its key id, and
``GET /v1/notifications/stream`` (:mod:`gateway.notify_stream`) sends that feed as
server-sent events. A replay (admin)
makes a dead delivery pending and due now; the ``notifier`` sends it at its next pass.
Exports ``ROUTES``, ``PATHS`` and ``MODELS`` like every route module.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit import AUDIT_TARGET
from gateway.auth import CALLER
from gateway.http import json_response, parse
from gateway.notify_stream import DELIVERY_ID, StreamQuery, stream_notifications
from gateway.readiness import CHECK_TIMEOUT_S, NotifyReadiness, WebhookReadiness
from gateway.robot_metrics import histogram_family, render
from gateway.spec import json_answer, operation, path_id, query_parameters
from gateway.state import SETTINGS, STORE
from runtime.errors import ConfigError, NotificationNotFound, NotReplayable, UnknownWebhook
from runtime.keys import Permission, Role
from runtime.notify.model import Channel
from runtime.notify.outbox import (
    Attempt,
    Delivery,
    DeliveryState,
    NotifierFigures,
)
from runtime.notify.settings import ENDPOINT_NAME, WebhookEndpoint, endpoint_secrets

__all__ = [
    "MODELS",
    "NOTIFIER",
    "PATHS",
    "ROUTES",
    "NotifierTally",
    "has_secret",
    "notify_metrics_text",
    "notify_readiness",
    "nudge_notifier",
]

DELIVERY_ID_PATTERN = DELIVERY_ID.pattern


class NotifierTally(Protocol):
    """What the gateway asks of the notifier (``NotifierClient`` on Ray)."""

    async def tally(self) -> NotifierFigures:
        """The notifier's counts since it started."""
        ...

    def nudge(self) -> None:
        """Tell the notifier new deliveries are due (no wait; it polls slowly otherwise)."""
        ...


def nudge_notifier(app: web.Application) -> None:
    """Wake the notifier, when this gateway has one, for deliveries it just made due."""
    notifier = app.get(NOTIFIER)
    if notifier is not None:
        notifier.nudge()


NOTIFIER = web.AppKey("notifier", NotifierTally)


async def notify_metrics_text(app: web.Application) -> bytes:
    """The outbox's figures in Prometheus text: deliveries by channel and attempts by
    channel and outcome (the notifier's counts since it started; absent when it does not
    answer within 2 s) and the dead letter's size (from the store)."""
    lines: list[str] = []
    notifier = app.get(NOTIFIER)
    if notifier is not None:
        try:
            figures = await asyncio.wait_for(notifier.tally(), 2.0)
        except Exception:
            figures = None
        if figures is not None:
            lines += [
                "# HELP robofleet_notifications_delivered_total Notifications delivered",
                "# TYPE robofleet_notifications_delivered_total counter",
            ]
            lines += [
                f'robofleet_notifications_delivered_total{{channel="{c}"}} {n}'
                for c, n in sorted(figures.delivered.items())
            ]
            lines += [
                "# HELP robofleet_notification_attempts_total Delivery attempts by outcome",
                "# TYPE robofleet_notification_attempts_total counter",
            ]
            for key, n in sorted(figures.attempts.items()):
                channel, _, outcome = key.partition(":")
                lines.append(
                    f'robofleet_notification_attempts_total{{channel="{channel}",'
                    f'outcome="{outcome}"}} {n}'
                )
            lines += _latency_lines(figures)
            lines += [
                "# HELP robofleet_notifications_rate_limited_total Sends postponed by their "
                "channel's rate limit",
                "# TYPE robofleet_notifications_rate_limited_total counter",
            ]
            lines += [
                f'robofleet_notifications_rate_limited_total{{channel="{c}"}} {n}'
                for c, n in sorted(figures.rate_limited.items())
            ]
    try:
        dead = await app[STORE].count_deliveries(DeliveryState.DEAD)
    except Exception:
        dead = None
    if dead is not None:
        lines += [
            "# HELP robofleet_notifications_dead Notifications in the dead letter",
            "# TYPE robofleet_notifications_dead gauge",
            f"robofleet_notifications_dead {dead}",
        ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


LATENCY = "robofleet_notification_delivery_latency_seconds"


def _latency_lines(figures: NotifierFigures) -> list[str]:
    """The delivery latency histogram per channel, from an outbox record's creation to
    its delivery, in Prometheus text (cumulative buckets, ``_sum``, ``_count``)."""
    family = histogram_family(
        LATENCY,
        "Seconds from a notification's outbox record to its delivery",
        "channel",
        {channel: h.buckets() for channel, h in figures.latency.items()},
    )
    return render([family]).decode().splitlines()


class NotificationQuery(BaseModel):
    """Query of ``GET /v1/notifications``."""

    model_config = ConfigDict(extra="forbid")

    state: DeliveryState | None = Field(None, description="pending, delivered or dead.")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, pattern=DELIVERY_ID_PATTERN)


class NotificationView(BaseModel):
    """One delivery with its whole history."""

    id: str = Field(description="The delivery id every send carries (webhook-id, Message-ID).")
    rule_id: str | None
    robot_id: str | None
    channel: Channel
    recipient: str
    locale: str
    subject: str
    text: str
    html: str
    state: DeliveryState
    attempts: list[Attempt]
    next_attempt_at: float
    created_at: float
    updated_at: float


class NotificationPage(BaseModel):
    """A page of deliveries, newest first."""

    notifications: list[NotificationView]
    next_cursor: str | None = None


class WebhookEndpointView(BaseModel):
    """A webhook endpoint of ``[notify]``: where it points and whether a 410 disabled it."""

    name: str
    url: str
    disabled: bool
    reason: str | None = Field(None, description="Why it is disabled (a 410 and when).")
    secret: bool = Field(
        True,
        description="Its secrets_env is set on the gateway's node; without it every delivery "
        "to it goes dead.",
    )


class WebhookEndpointList(BaseModel):
    """The webhook endpoints of ``[notify]``."""

    endpoints: list[WebhookEndpointView]


class Replayed(BaseModel):
    """Answer of a replay."""

    id: str
    state: DeliveryState


def _view(delivery: Delivery) -> dict[str, Any]:
    return delivery.public()


def _is_admin(request: web.Request) -> bool:
    return bool(request[CALLER].role is Role.ADMIN)


async def list_notifications(request: web.Request) -> web.Response:
    """``GET /v1/notifications``: deliveries newest first (admin: all; else the caller's
    in-app feed)."""
    query = parse(NotificationQuery, dict(request.query))
    recipient = None if _is_admin(request) else request[CALLER].id
    page = await request.app[STORE].list_deliveries(
        query.limit, query.cursor, query.state, recipient
    )
    shown = [d for d in page.deliveries if recipient is None or d.channel is Channel.INAPP]
    return json_response(
        {"notifications": [_view(d) for d in shown], "next_cursor": page.next_cursor}
    )


def _delivery_id(request: web.Request) -> str:
    delivery_id = request.match_info["delivery_id"]
    if not delivery_id.startswith("msg_") or len(delivery_id) != 28:
        raise NotificationNotFound(f"no notification with id {delivery_id!r}")
    return delivery_id


async def get_notification(request: web.Request) -> web.Response:
    """``GET /v1/notifications/{delivery_id}``: one delivery with its attempts."""
    delivery_id = _delivery_id(request)
    delivery = await request.app[STORE].get_delivery(delivery_id)
    if delivery is None or not (
        _is_admin(request)
        or (delivery.channel is Channel.INAPP and delivery.recipient == request[CALLER].id)
    ):
        raise NotificationNotFound(f"no notification with id {delivery_id!r}")
    return json_response(_view(delivery))


async def replay_notification(request: web.Request) -> web.Response:
    """``POST /v1/notifications/{delivery_id}/replay``: send a dead delivery again (admin)."""
    delivery_id = _delivery_id(request)
    request[AUDIT_TARGET] = delivery_id
    store = request.app[STORE]
    if not await store.replay_delivery(delivery_id):
        delivery = await store.get_delivery(delivery_id)
        if delivery is None:
            raise NotificationNotFound(f"no notification with id {delivery_id!r}")
        raise NotReplayable(
            f"notification {delivery_id} is {delivery.state.value}: only a dead one is replayed"
        )
    nudge_notifier(request.app)
    return json_response({"id": delivery_id, "state": DeliveryState.PENDING.value})


def has_secret(endpoint: WebhookEndpoint) -> bool:
    """Whether the endpoint's ``secrets_env`` is set here. The gateway runs in the
    environment of ``robofleet up`` like the notifier, so what it sees is what the notifier
    signs with."""
    try:
        endpoint_secrets(endpoint)
    except ConfigError:
        return False
    return True


async def notify_readiness(app: web.Application) -> NotifyReadiness:
    """The webhook endpoints (secret set? disabled by a 410?) and the dead letter's size,
    for ``GET /readyz``; ``dead`` is None when the store does not answer within 2 s."""
    store = app[STORE]
    try:
        disabled, dead = await asyncio.wait_for(
            asyncio.gather(
                store.disabled_endpoints(), store.count_deliveries(DeliveryState.DEAD)
            ),
            CHECK_TIMEOUT_S,
        )
    except Exception:
        disabled, dead = {}, None
    webhooks = [
        WebhookReadiness(name=e.name, secret=has_secret(e), disabled=disabled.get(e.name))
        for e in app[SETTINGS].notify.webhooks
    ]
    return NotifyReadiness(webhooks=webhooks, dead=dead)


async def list_endpoints(request: web.Request) -> web.Response:
    """``GET /v1/webhooks``: the webhook endpoints and which a 410 disabled (admin)."""
    disabled = await request.app[STORE].disabled_endpoints()
    endpoints = [
        WebhookEndpointView(
            name=e.name,
            url=e.url,
            disabled=e.name in disabled,
            reason=disabled.get(e.name),
            secret=has_secret(e),
        ).model_dump(mode="json")
        for e in request.app[SETTINGS].notify.webhooks
    ]
    return json_response({"endpoints": endpoints})


async def enable_endpoint(request: web.Request) -> web.Response:
    """``POST /v1/webhooks/{name}/enable``: enable an endpoint a 410 disabled (admin); the
    notifier sends to it again from its next pass (its dead deliveries need a replay)."""
    name = request.match_info["name"]
    endpoint = request.app[SETTINGS].notify.endpoint(name)
    if endpoint is None:
        raise UnknownWebhook(f"no webhook endpoint {name!r} in [notify]")
    request[AUDIT_TARGET] = name
    await request.app[STORE].enable_endpoint(name)
    view = WebhookEndpointView(name=name, url=endpoint.url, disabled=False)
    return json_response(view.model_dump(mode="json"))


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/notifications", list_notifications), Permission.READ),
    (web.get("/v1/notifications/stream", stream_notifications), Permission.READ),
    (web.get("/v1/notifications/{delivery_id}", get_notification), Permission.READ),
    (web.post("/v1/notifications/{delivery_id}/replay", replay_notification), Permission.ADMIN),
    (web.get("/v1/webhooks", list_endpoints), Permission.ADMIN),
    (web.post("/v1/webhooks/{name}/enable", enable_endpoint), Permission.ADMIN),
]
"""The notification routes."""

MODELS: list[type[BaseModel]] = [
    NotificationView,
    NotificationPage,
    Replayed,
    Attempt,
    WebhookEndpointView,
    WebhookEndpointList,
]
"""The models :data:`PATHS` refers to."""

# One server-sent event of the stream (OpenAPI before 3.2 describes each event).
_NOTIFICATION_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": DELIVERY_ID_PATTERN},
        "event": {"type": "string", "enum": ["notification"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/NotificationView"},
        },
    },
}

_ID_PARAMETER = [path_id("delivery_id", DELIVERY_ID_PATTERN)]

PATHS: dict[str, Any] = {
    "/v1/notifications": {
        "get": operation(
            "listNotifications",
            "Notifications newest first: every delivery (admin; ?state=dead is the dead "
            "letter) or the caller's in-app feed",
            {"200": json_answer(NotificationPage, "a page of notifications")},
            (422,),
            parameters=query_parameters(NotificationQuery),
        ),
    },
    "/v1/notifications/stream": {
        "get": operation(
            "streamNotifications",
            "Server-sent events of the caller's new notifications (the feed "
            "GET /v1/notifications lists); resumes after the Last-Event-ID header",
            {
                "200": {
                    "description": "one 'notification' event per delivery (NotificationView "
                    "JSON, its id the event id), ': keep-alive' comments while quiet",
                    "content": {"text/event-stream": {"schema": _NOTIFICATION_EVENT}},
                }
            },
            parameters=[
                *query_parameters(StreamQuery),
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "The last delivery id received: resume after it.",
                    "schema": {"type": "string", "pattern": DELIVERY_ID_PATTERN},
                },
            ],
        ),
    },
    "/v1/notifications/{delivery_id}": {
        "get": operation(
            "getNotification",
            "One notification with its attempts",
            {"200": json_answer(NotificationView, "the notification")},
            (404,),
            parameters=_ID_PARAMETER,
        ),
    },
    "/v1/notifications/{delivery_id}/replay": {
        "post": operation(
            "replayNotification",
            "Send a dead notification again (admin)",
            {"200": json_answer(Replayed, "pending again")},
            (404, 409),
            parameters=_ID_PARAMETER,
        ),
    },
    "/v1/webhooks": {
        "get": operation(
            "listWebhookEndpoints",
            "Webhook endpoints of [notify] and which a 410 disabled (admin)",
            {"200": json_answer(WebhookEndpointList, "the endpoints")},
        ),
    },
    "/v1/webhooks/{name}/enable": {
        "post": operation(
            "enableWebhookEndpoint",
            "Enable a webhook endpoint a 410 disabled (admin)",
            {"200": json_answer(WebhookEndpointView, "the endpoint")},
            (404,),
            parameters=[path_id("name", ENDPOINT_NAME)],
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
