"""The SMS and chat channel: Apprise URLs (``json://``, ``tgram://``, ``slack://``,
``twilio://``, ...), so any service Apprise knows can be configured without code.

A target's URLs carry its tokens, so they sit in an environment variable (``urls_env``),
never in the config or a log. Apprise reports each service's outcome (v2); the delivery is
delivered when every service of the target took it, else failed (retried) with the names
of those that did not.
"""

from __future__ import annotations

import apprise

from runtime.notify.outbox import Delivery, Outcome, SendResult

__all__ = ["send_apprise"]


async def send_apprise(urls: list[str], delivery: Delivery, timeout_s: float) -> SendResult:
    """Notify each of ``urls`` with the delivery's subject (title) and text (body).

    A URL Apprise does not understand is refused (dead: the config needs fixing); never
    raises for a service's failure.
    """
    target = apprise.Apprise()
    for n, url in enumerate(urls, 1):
        if not target.add(url):
            return SendResult(Outcome.REFUSED, 0, f"Apprise URL #{n} is not one Apprise knows")
    try:
        result = await target.async_notify(
            body=delivery.text or delivery.subject or "-",
            title=delivery.subject,
            timeout=timeout_s,
        )
    except Exception as exc:  # a plugin's own failure: retried like any other
        return SendResult(Outcome.FAILED, 0, f"Apprise: {type(exc).__name__}"[:300])
    if bool(result):
        return SendResult(Outcome.DELIVERED, 0)
    failed = [str(service.name) for service in result if not bool(service)]
    detail = ", ".join(failed) if failed else str(result.status)
    return SendResult(Outcome.FAILED, 0, f"Apprise: not delivered by {detail}"[:300])
