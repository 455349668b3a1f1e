"""The ``notifier`` actor on Ray: the wrapper with its Ray metrics, options and client.

It runs on the head node and Ray restarts it forever, like the email monitor and the
cache; a restarted notifier carries on from the outbox in the store (a send it made but
did not record is made again with the same delivery id).
"""

from __future__ import annotations

import os
from typing import Any

import ray

from actors.notifier import Notifier
from actors.ray.common import NamedActorClient, head_actor_options
from runtime.config import Settings
from runtime.notify.outbox import NotifierFigures
from runtime.store import create_store

__all__ = [
    "NOTIFIER_NAME",
    "NotifierActor",
    "NotifierClient",
    "RemoteNotifier",
    "notifier_options",
]

NOTIFIER_NAME = "notifier"
CALL_TIMEOUT_S = 10.0


class NotifierActor(Notifier):
    """The notifier as a Ray actor: its store and ``[notify]`` from settings."""

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        parsed = Settings(**settings)
        store = create_store(parsed)
        await store.open()
        super().__init__(store, parsed.notify)
        await self.start()

    def ready(self) -> bool:
        """Answer once started."""
        return True

    def pid(self) -> int:
        """This actor's process id (the tests kill it to prove a restart loses nothing)."""
        return os.getpid()

    def tally(self) -> NotifierFigures:
        """Its counts since it started."""
        return self.figures

    def __repr__(self) -> str:
        """Live state for the Ray dashboard: deliveries made and the dead letter's size."""
        figures = getattr(self, "figures", None)
        if figures is None:
            return "notifier(starting)"
        return f"notifier(delivered={sum(figures.delivered.values())} dead={figures.dead})"


RemoteNotifier = ray.remote(NotifierActor)


def notifier_options(namespace: str) -> dict[str, Any]:
    """Ray options: named, detached, on the head node, restarted forever."""
    return head_actor_options(NOTIFIER_NAME, namespace, max_concurrency=100, max_task_retries=0)


class NotifierClient(NamedActorClient):
    """The ``notifier`` actor behind typed calls, looked up by name on each failure.

    An unreachable notifier raises Ray's error or ``TimeoutError`` after ``timeout_s``.
    """

    def __init__(self, namespace: str, timeout_s: float = CALL_TIMEOUT_S) -> None:
        super().__init__(NOTIFIER_NAME, namespace, timeout_s)

    async def tally(self) -> NotifierFigures:
        """The notifier's counts since it started."""
        figures: NotifierFigures = await self._call("tally")
        return figures

    async def enable_endpoint(self, name: str) -> None:
        """Enable a webhook endpoint a 410 disabled."""
        await self._call("enable_endpoint", name)

    def nudge(self) -> None:
        """Tell the notifier new deliveries are in the outbox (no wait, no answer); an
        unreachable one is looked up again next time, and its poll finds them anyway."""
        try:
            self._actor().wake.remote()
        except Exception:
            self._handle = None
