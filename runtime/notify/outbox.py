"""The durable outbox: one record per delivery, and what an attempt's outcome does to it.

A delivery is written (state ``pending``) in the same store transaction as the robot event
that fired it, before anything is sent; the notifier then records every attempt on it. Its
``id`` is the delivery id every send carries (a webhook's ``webhook-id``, an email's
``Message-ID``), so a receiver that deduplicates by it sees each delivery once even when an
answer was lost and the send repeated.

Retries follow the Standard Webhooks schedule by default: immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h after each failure; a failure after the last makes the
delivery ``dead`` (the dead letter), from where a replay makes it pending again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from runtime.histogram import Histogram
from runtime.models import new_robot_id
from runtime.notify.model import Channel

__all__ = [
    "LATENCY_BUCKETS",
    "STANDARD_SCHEDULE",
    "Attempt",
    "Delivery",
    "DeliveryPage",
    "DeliveryState",
    "NotifierFigures",
    "Outcome",
    "SendResult",
    "after_attempt",
    "new_delivery",
]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    7200.0,
    36000.0,
)
"""Upper bounds (seconds) of the delivery latency histogram: from an in-app store to a
delivery that waited out most of the retry schedule (hours, where a robot's run-time bounds,
:data:`runtime.robot_tally.DURATION_BOUNDS_S`, start at 5 ms and end at an hour)."""

STANDARD_SCHEDULE: tuple[float, ...] = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before each attempt (the first is immediate): the Standard Webhooks schedule."""


class DeliveryState(StrEnum):
    """Where a delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class Outcome(StrEnum):
    """What one attempt came to."""

    DELIVERED = "delivered"
    FAILED = "failed"
    """A failure worth retrying (a 5xx, a timeout, a reset, an SMTP 4xx)."""
    THROTTLED = "throttled"
    """The receiver asked to slow down (429, 502, 504, ``Retry-After``)."""
    REFUSED = "refused"
    """A permanent refusal (an SMTP 5xx, a template that cannot render): no retry."""
    DISABLED = "disabled"
    """The endpoint is gone (webhook 410): it is disabled and the delivery is dead."""


@dataclass(slots=True)
class SendResult:
    """A channel's answer to one send: the outcome, the status code (HTTP or SMTP, 0 when
    there was none), the error text and, when throttled, the seconds the receiver asked for."""

    outcome: Outcome
    status: int = 0
    error: str | None = None
    retry_after_s: float | None = None


class Attempt(BaseModel):
    """One recorded attempt of a delivery."""

    at: float
    outcome: Outcome
    status: int = 0
    error: str | None = None


class Delivery(BaseModel):
    """One notification to one recipient over one channel, with its whole history."""

    id: str
    dedup_key: str
    """(rule, event, channel, recipient): the store keeps one delivery per key."""
    rule_id: str | None = None
    robot_id: str | None = None
    channel: Channel
    recipient: str
    locale: str = "en"
    subject: str = ""
    text: str = ""
    html: str = ""
    state: DeliveryState = DeliveryState.PENDING
    attempts: list[Attempt] = Field(default_factory=list)
    next_attempt_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0

    def public(self) -> dict[str, Any]:
        """The delivery as the API shows it."""
        return self.model_dump(mode="json", exclude={"dedup_key"})


@dataclass(slots=True)
class NotifierFigures:
    """The notifier's counts since it started (a typed message to the gateway's
    ``/metrics``): deliveries by channel, attempts by ``channel:outcome``, the dead
    letter's size at its last pass, and sends its channel's rate limit postponed by channel."""

    delivered: dict[str, int]
    attempts: dict[str, int]
    dead: int = 0
    rate_limited: dict[str, int] = field(default_factory=dict)
    latency: dict[str, Histogram] = field(default_factory=dict)
    """Per channel, deliveries by latency (seconds) on the :data:`LATENCY_BUCKETS` bounds."""

    def observe_latency(self, channel: str, seconds: float) -> None:
        """Count one delivery of ``channel`` made ``seconds`` after its outbox record."""
        histogram = self.latency.get(channel)
        if histogram is None:
            histogram = self.latency[channel] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)


class DeliveryPage(BaseModel):
    """One page of deliveries, newest first, and the cursor of the next (None at the end)."""

    deliveries: list[Delivery]
    next_cursor: str | None = None


def new_delivery(
    dedup_key: str,
    channel: Channel,
    recipient: str,
    message: dict[str, str],
    locale: str = "en",
    rule_id: str | None = None,
    robot_id: str | None = None,
    now: float | None = None,
) -> Delivery:
    """A pending delivery due now; its id (``msg_`` + a time-sorted id) is the delivery id."""
    at = now if now is not None else time.time()
    return Delivery(
        id=f"msg_{new_robot_id()}",
        dedup_key=dedup_key,
        rule_id=rule_id,
        robot_id=robot_id,
        channel=channel,
        recipient=recipient,
        locale=locale,
        subject=message.get("subject", ""),
        text=message.get("text", ""),
        html=message.get("html", ""),
        next_attempt_at=at,
        created_at=at,
        updated_at=at,
    )


def after_attempt(
    delivery: Delivery, result: SendResult, schedule: tuple[float, ...], now: float
) -> Delivery:
    """The delivery once ``result`` is recorded: delivered, due again, or dead.

    ``schedule`` holds the delay before each attempt (its length is the number of
    attempts); a throttled attempt waits at least its ``Retry-After``. Raises nothing.
    """
    attempts = [
        *delivery.attempts,
        Attempt(at=now, outcome=result.outcome, status=result.status, error=result.error),
    ]
    update: dict[str, Any] = {"attempts": attempts, "updated_at": now}
    if result.outcome is Outcome.DELIVERED:
        update["state"] = DeliveryState.DELIVERED
    elif result.outcome in (Outcome.REFUSED, Outcome.DISABLED) or len(attempts) >= len(schedule):
        update["state"] = DeliveryState.DEAD
    else:
        delay = schedule[len(attempts)]
        if result.retry_after_s is not None:
            delay = max(delay, min(result.retry_after_s, 36_000.0))
        update["next_attempt_at"] = now + delay
    return delivery.model_copy(update=update)


def replayed(delivery: Delivery, now: float) -> Delivery:
    """A dead delivery made pending again, due now, its attempts kept: it is tried once
    more, and dead again if that attempt fails."""
    return delivery.model_copy(
        update={"state": DeliveryState.PENDING, "next_attempt_at": now, "updated_at": now}
    )


__all__ += ["replayed"]
