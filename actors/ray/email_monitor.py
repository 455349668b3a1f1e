"""The ``email-monitor`` actor on Ray: the wrapper with its Ray metrics, options and client.

It runs on the head node (its raw mail and learned model sit beside the documents) and
Ray restarts it forever, like the cache and the orchestrator; a restarted monitor picks up
each mailbox at its stored cursor.
"""

from __future__ import annotations

import os
from typing import Any

import ray
from ray.util import metrics as ray_metrics

from actors.email_monitor import EmailMonitor
from actors.ray.common import NamedActorClient, head_actor_options
from actors.ray.documents import RayDocuments
from actors.ray.orchestrator import OrchestratorClient
from runtime.config import Settings
from runtime.mail.records import MailRecord
from runtime.messages import MailboxStatus
from runtime.store import create_store

__all__ = [
    "EMAIL_MONITOR_NAME",
    "EmailMonitorActor",
    "EmailMonitorClient",
    "RemoteEmailMonitor",
    "email_monitor_options",
]

EMAIL_MONITOR_NAME = "email-monitor"
CALL_TIMEOUT_S = 30.0


class RayMailMetrics:
    """The monitor's figures as Ray custom metrics (the gateway's ``/metrics`` has them too)."""

    def __init__(self) -> None:
        self._contact = ray_metrics.Gauge(
            "robofleet_mailbox_last_contact_timestamp_seconds",
            "Unix time of the last successful IMAP round trip",
            tag_keys=("mailbox",),
        )
        self._stale = ray_metrics.Gauge(
            "robofleet_mailbox_stale", "1 when silent past its bound", tag_keys=("mailbox",)
        )
        self._processed = ray_metrics.Counter(
            "robofleet_mail_processed_total", "Mail processed", tag_keys=("mailbox", "class")
        )

    def contact(self, mailbox: str, at: float) -> None:
        """A successful round trip."""
        self._contact.set(at, {"mailbox": mailbox})

    def processed(self, mailbox: str, mail_class: str) -> None:
        """One mail processed."""
        self._processed.inc(1, {"mailbox": mailbox, "class": mail_class})

    def stale(self, mailbox: str, stale: bool) -> None:
        """Stale or not."""
        self._stale.set(1 if stale else 0, {"mailbox": mailbox})


class EmailMonitorActor(EmailMonitor):
    """The email monitor as a Ray actor: its store, orchestrator and documents from settings."""

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        parsed = Settings(**settings)
        store = create_store(parsed)
        await store.open()
        orchestrator = OrchestratorClient(parsed.namespace)
        super().__init__(
            parsed,
            store,
            orchestrator.submit_many,
            RayDocuments(parsed.namespace),
            RayMailMetrics(),
        )
        await self.start()

    def ready(self) -> bool:
        """Answer once started."""
        return True

    def pid(self) -> int:
        """This actor's process id (the tests kill it to prove a restart loses nothing)."""
        return os.getpid()


RemoteEmailMonitor = ray.remote(EmailMonitorActor)


def email_monitor_options(namespace: str) -> dict[str, Any]:
    """Ray options: named, detached, on the head node, restarted forever.

    Calls are not retried by Ray (adding a mailbox twice would be refused as a duplicate);
    a caller that gets no answer tries again itself.
    """
    return head_actor_options(
        EMAIL_MONITOR_NAME, namespace, max_concurrency=100, max_task_retries=0
    )


class EmailMonitorClient(NamedActorClient):
    """The ``email-monitor`` actor behind typed calls, looked up by name on each failure.

    A :class:`~runtime.errors.RobofleetError` the monitor raises is raised as itself; an
    unreachable monitor raises Ray's error or ``TimeoutError`` after ``timeout_s``.
    """

    def __init__(self, namespace: str, timeout_s: float = CALL_TIMEOUT_S) -> None:
        super().__init__(EMAIL_MONITOR_NAME, namespace, timeout_s)

    async def mailboxes(self) -> list[MailboxStatus]:
        """Every watched mailbox with its state."""
        found: list[MailboxStatus] = await self._call("mailboxes")
        return found

    async def add_mailbox(self, raw_spec: dict[str, Any]) -> MailboxStatus:
        """Add and start a mailbox; raises MailboxRejected or MailboxExists."""
        status: MailboxStatus = await self._call("add_mailbox", raw_spec)
        return status

    async def set_paused(self, name: str, paused: bool) -> MailboxStatus:
        """Pause or resume; raises MailboxNotFound."""
        status: MailboxStatus = await self._call("set_paused", name, paused)
        return status

    async def remove_mailbox(self, name: str) -> None:
        """Stop watching for good; raises MailboxNotFound."""
        await self._call("remove_mailbox", name)

    async def label(self, record_id: str, label: str) -> MailRecord:
        """Correct a mail's class; raises MailNotFound or MailboxRejected."""
        record: MailRecord = await self._call("label", record_id, label)
        return record
