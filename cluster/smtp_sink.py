"""A throwaway SMTP server (aiosmtpd on its own thread) that keeps every mail it accepts:
the receiver of ``robofleet demo`` and of the notification tests and benchmark. It answers
``451`` or ``550`` for the recipients told to, so retries and the dead letter can be shown."""

from __future__ import annotations

import time
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from cluster.ports import free_loopback_port

__all__ = ["SmtpSink"]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        answer = self.sink.answers.get(address)
        if answer:
            self.sink.refusals[address] += 1
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.sink.mails.append(mail)
        self.sink.arrivals.append(time.time())
        return "250 Message accepted"


class SmtpSink:
    """aiosmtpd on a free port; ``answers[address]`` (``"451 ..."``, ``"550 ..."``) refuses
    that recipient until removed; every accepted mail is kept in ``mails``."""

    def __init__(self, port: int | None = None) -> None:
        self.answers: dict[str, str] = {}
        self.refusals: Counter[str] = Counter()
        self.mails: list[EmailMessage] = []
        self.arrivals: list[float] = []
        self.port = port or free_loopback_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        """Serve on its own thread."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def by_delivery(self) -> dict[str, EmailMessage]:
        """Accepted mails by delivery id (the last of each)."""
        return {str(m["X-Robofleet-Delivery-Id"]): m for m in self.mails}
