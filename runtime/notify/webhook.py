"""The webhook channel: one signed POST per delivery, per the Standard Webhooks spec.

Headers ``webhook-id`` (the delivery id), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>``, one per secret, space separated),
computed by the ``standardwebhooks`` package (the specification's reference library), so
a receiver verifies with ``Webhook(secret).verify(body, headers)``. Redirects are not
followed; 2xx is delivered, 410 disables the endpoint, 429/502/504 throttle (honouring
``Retry-After``), anything else (and a timeout, a reset) is retried.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from standardwebhooks import Webhook

from runtime.notify.outbox import Delivery, Outcome, SendResult
from runtime.notify.settings import WebhookEndpoint

__all__ = ["THROTTLE_STATUSES", "outcome_of", "send_webhook", "sign", "webhook_body"]

THROTTLE_STATUSES = frozenset({429, 502, 504})


def webhook_body(delivery: Delivery) -> bytes:
    """The JSON body: ``{"type", "timestamp", "data"}`` as the spec recommends; ``data``
    holds the delivery id, rule, robot, subject and the rendered text (parsed when it is a
    JSON document)."""
    try:
        message: Any = orjson.loads(delivery.text)
    except orjson.JSONDecodeError:
        message = delivery.text
    return orjson.dumps(
        {
            "type": "robot.notification",
            "timestamp": datetime.fromtimestamp(delivery.created_at, UTC).isoformat(),
            "data": {
                "delivery_id": delivery.id,
                "rule_id": delivery.rule_id,
                "robot_id": delivery.robot_id,
                "subject": delivery.subject,
                "message": message,
            },
        }
    )


def sign(secrets: list[str], delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(delivery_id, moment, text) for s in secrets)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def outcome_of(status: int, retry_after: str | None = None, now: float = 0.0) -> SendResult:
    """What an HTTP answer's status means for the delivery."""
    if 200 <= status < 300:
        return SendResult(Outcome.DELIVERED, status)
    if status == 410:
        return SendResult(Outcome.DISABLED, status, "410 Gone: the endpoint is disabled")
    if status in THROTTLE_STATUSES:
        return SendResult(
            Outcome.THROTTLED, status, f"HTTP {status}", _retry_after(retry_after, now)
        )
    if 300 <= status < 400:
        return SendResult(Outcome.FAILED, status, f"HTTP {status} (redirects are not followed)")
    return SendResult(Outcome.FAILED, status, f"HTTP {status}")


async def send_webhook(
    session: aiohttp.ClientSession,
    endpoint: WebhookEndpoint,
    secrets: list[str],
    delivery: Delivery,
) -> SendResult:
    """POST one delivery to ``endpoint``; never raises for the receiver's failures."""
    body = webhook_body(delivery)
    now = time.time()
    headers = {"content-type": "application/json", **sign(secrets, delivery.id, int(now), body)}
    try:
        async with session.post(
            endpoint.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=endpoint.timeout_s),
        ) as response:
            await response.read()
            return outcome_of(response.status, response.headers.get("retry-after"), now)
    except TimeoutError:
        return SendResult(Outcome.FAILED, 0, f"timed out after {endpoint.timeout_s:g} s")
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        return SendResult(Outcome.FAILED, 0, f"{type(exc).__name__}: {exc}"[:300])
