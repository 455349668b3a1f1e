"""The email channel: deliveries sent through one SMTP connection per batch (aiosmtplib).

Each mail carries a text part and, when the template has one, an HTML alternative; its
``Message-ID`` is built from the delivery id, so a resend is recognisably the same mail.
STARTTLS (or TLS from the start) and a login are used when configured. An SMTP 4xx answer
is retried, a 5xx refused for good; a lost connection fails the rest of the batch, which
is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from runtime.notify.outbox import Delivery, Outcome, SendResult
from runtime.notify.settings import SmtpServer

__all__ = ["mail_of", "send_mail_batch"]


def mail_of(delivery: Delivery, sender: str) -> EmailMessage:
    """The mail of one delivery: subject, text part and optional HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.recipient
    message["Subject"] = delivery.subject or "robofleet notification"
    message["Date"] = formatdate(delivery.created_at, usegmt=True)
    message["Message-ID"] = f"<{delivery.id}@robofleet>"
    message["X-Robofleet-Delivery-Id"] = delivery.id
    message.set_content(delivery.text or "")
    if delivery.html:
        message.add_alternative(delivery.html, subtype="html")
    return message


def _result_of(exc: Exception) -> SendResult:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = exc.recipients[0].code
        text = f"SMTP {code} {exc.recipients[0].message}"[:300]
        return SendResult(Outcome.REFUSED if code >= 500 else Outcome.FAILED, code, text)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code} {exc.message}"[:300]
        return SendResult(Outcome.REFUSED if exc.code >= 500 else Outcome.FAILED, exc.code, text)
    return SendResult(Outcome.FAILED, 0, f"{type(exc).__name__}: {exc}"[:300])


async def send_mail_batch(
    server: SmtpServer, password: str | None, deliveries: Sequence[Delivery]
) -> list[SendResult]:
    """Send deliveries over one connection, in order; one result per delivery.

    Never raises for the server's failures: a connection that cannot be made, or is lost,
    makes the remaining deliveries ``failed`` (retried).
    """
    results: list[SendResult] = []
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.use_tls,
        start_tls=server.starttls,
        timeout=server.timeout_s,
    )
    try:
        await client.connect()
        if server.username and password is not None:
            await client.login(server.username, password)
    except (aiosmtplib.SMTPException, OSError) as exc:
        failed = _result_of(exc)
        if failed.outcome is Outcome.REFUSED:  # a refused login is the config's fault
            failed = SendResult(Outcome.FAILED, failed.status, failed.error)
        return [failed for _ in deliveries]
    try:
        for delivery in deliveries:
            try:
                await client.send_message(mail_of(delivery, server.sender))
                results.append(SendResult(Outcome.DELIVERED, 250))
            except aiosmtplib.SMTPServerDisconnected as exc:
                lost = _result_of(exc)
                results.extend(lost for _ in deliveries[len(results) :])
                return results
            except (aiosmtplib.SMTPException, OSError) as exc:
                results.append(_result_of(exc))
                if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
                    try:  # the transaction is left half done: start the next one clean
                        await client.rset()
                    except (aiosmtplib.SMTPException, OSError):
                        pass
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return results
