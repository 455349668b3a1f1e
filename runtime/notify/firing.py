"""What a notify rule's firing writes: one outbox delivery per recipient, rendered now.

A pure function; the orchestrator attaches the deliveries to the robot's terminal
transition, so they are stored in its transaction (exactly when its outcome is).
"""

from __future__ import annotations

import time
from typing import Any

from runtime.notify.model import NotifyAction
from runtime.notify.outbox import Delivery, new_delivery
from runtime.notify.templates import render

__all__ = ["dedup_key", "notify_deliveries"]


def dedup_key(rule_id: str, source: str, channel: str, recipient: str) -> str:
    """The key the outbox keeps one delivery per: (rule, event source, channel, recipient)."""
    return f"rule:{rule_id}:{source}:{channel}:{recipient}"


def notify_deliveries(
    rule_id: str,
    action: NotifyAction,
    event: dict[str, Any],
    source: str,
    robot_id: str | None = None,
    now: float | None = None,
) -> list[Delivery]:
    """One pending delivery per recipient of ``action``, its message rendered from
    ``event`` (plus ``recipient``: ``{"to", "name", "locale"}``) in the recipient's language.

    Raises :class:`~runtime.notify.templates.TemplateRefused` when a message cannot render.
    """
    at = now if now is not None else time.time()
    out: list[Delivery] = []
    for recipient in action.recipients:
        language, template = action.message_for(recipient.locale)
        context = {**event, "recipient": recipient.model_dump()}
        message = render(template, context, recipient.locale)
        out.append(
            new_delivery(
                dedup_key(rule_id, source, action.channel.value, recipient.to),
                action.channel,
                recipient.to,
                message,
                locale=recipient.locale,
                rule_id=rule_id,
                robot_id=robot_id,
                now=at,
            )
        )
    return out
