"""``POST /v1/alerts``: Alertmanager's webhook receiver (payload version ``4``).

Named after what it receives (alerts, the Alertmanager word) under ``/v1`` like every
route, so one ``webhook_config`` URL and an API key (operate permission, sent by
Alertmanager's ``http_config.authorization``) are all it needs. Each alert that matches an
``on.alert`` rule becomes outbox deliveries (see :mod:`runtime.notify.alerts`), written
here, before the answer: Alertmanager retries a batch it got no 2xx for, and a resend
(same fingerprint, status and startsAt) finds them stored and adds none. The rules are
read from the store, where the orchestrator keeps the config file's and the API's; the
``notifier``, nudged, sends them at once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.http import json_response, parse, read_json
from gateway.notify_routes import nudge_notifier
from gateway.spec import body, json_answer, operation
from gateway.state import STORE
from runtime.keys import Permission
from runtime.notify.alerts import AlertBatch, AlertmanagerAlert, alert_firings

__all__ = ["MODELS", "PATHS", "ROUTES", "AlertsReceived"]


class AlertsReceived(BaseModel):
    """Answer of ``POST /v1/alerts``."""

    alerts: int = Field(description="Alerts in the batch.")
    fired: int = Field(description="(alert, rule) pairs that fired for the first time.")
    repeated: int = Field(description="(alert, rule) pairs fired before (a resend): no new send.")
    failed: int = Field(description="Firings that failed (a template or `when` error).")
    notifications: list[str] = Field(description="Delivery ids of the new notifications.")


async def receive_alerts(request: web.Request) -> web.Response:
    """``POST /v1/alerts``: turn an Alertmanager batch into notifications through the
    ``on.alert`` rules; a payload that is not Alertmanager's version 4 is refused (422)."""
    batch = parse(AlertBatch, await read_json(request), strict=True)
    store = request.app[STORE]
    rules = [record.rule for record in await store.list_rules()]
    made = alert_firings(rules, batch)
    fired, repeated, new_ids = [], 0, []
    for firing, deliveries in made.fired:
        if await store.add_deliveries(deliveries):
            fired.append(firing)
            new_ids += [d.id for d in deliveries]
        else:
            repeated += 1
    if fired or made.failed:
        await store.record_firings([*fired, *made.failed])
    if new_ids:
        nudge_notifier(request.app)
    answer = AlertsReceived(
        alerts=len(batch.alerts),
        fired=len(fired),
        repeated=repeated,
        failed=len(made.failed),
        notifications=new_ids,
    )
    return json_response(answer.model_dump(mode="json"))


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.post("/v1/alerts", receive_alerts), Permission.OPERATE),
]
"""The alert receiver's route."""

MODELS: list[type[BaseModel]] = [AlertBatch, AlertmanagerAlert, AlertsReceived]
"""The models :data:`PATHS` refers to."""

PATHS: dict[str, Any] = {
    "/v1/alerts": {
        "post": operation(
            "receiveAlerts",
            "Alertmanager webhook receiver: each alert matching an on.alert rule becomes "
            "notifications, once per (fingerprint, status, startsAt)",
            {"200": json_answer(AlertsReceived, "what the batch fired")},
            requestBody=body(AlertBatch),
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
