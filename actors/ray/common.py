"""What the Ray actors share: where head-only actors go, how a lost actor shows, the
names of the orchestrator and the gateways, and the client of an actor reached by name."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

from runtime.errors import RobofleetError

__all__ = [
    "GATEWAY_PREFIX",
    "HEAD_NODE_RESOURCE",
    "LOST_ERRORS",
    "ORCHESTRATOR_NAME",
    "Handle",
    "NamedActorClient",
    "head_actor_options",
    "orchestrator_handle",
    "robofleet_errors",
]

HEAD_NODE_RESOURCE = "node:__internal_head__"
"""A resource only the head node has; a sliver of it pins an actor there."""

LOST_ERRORS = (RayActorError, ActorDiedError, ActorUnavailableError)
"""What a call raises when the actor behind the handle died or cannot be reached."""

ORCHESTRATOR_NAME = "orchestrator"
GATEWAY_PREFIX = "gateway:"
"""Every gateway actor's name starts with this (``gateway:<node ip>:<port>``)."""

Handle = Any
"""A Ray actor handle. Its methods are reached by name (``handle.run_batch.remote(...)``),
which a type checker cannot follow; the typed clients beside each actor wrap those calls."""


@contextmanager
def robofleet_errors() -> Iterator[None]:
    """Around an actor call: a :class:`~runtime.errors.RobofleetError` the actor raised is
    raised as itself, not wrapped in Ray's task error, so the caller handles it like a local
    one (the gateway translates it to its HTTP status). Other errors pass unchanged."""
    try:
        yield
    except RayTaskError as exc:
        if isinstance(exc.cause, RobofleetError):
            raise exc.cause from None
        raise


def head_actor_options(
    name: str, namespace: str, *, max_concurrency: int, max_task_retries: int
) -> dict[str, Any]:
    """Ray options of a head-node actor: named ``name`` in ``namespace``, detached, restarted
    forever, no CPU, pinned to the head by a sliver of :data:`HEAD_NODE_RESOURCE`.

    ``max_task_retries=-1`` has Ray retry calls while the actor restarts; 0 leaves the
    retry to the caller (for calls that must not run twice).
    """
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": -1,
        "max_task_retries": max_task_retries,
        "max_concurrency": max_concurrency,
        "num_cpus": 0,
        "resources": {HEAD_NODE_RESOURCE: 0.001},
    }


def orchestrator_handle(namespace: str) -> Handle:
    """The orchestrator actor's handle; raises ``ValueError`` when it is not running."""
    return ray.get_actor(ORCHESTRATOR_NAME, namespace=namespace)


class NamedActorClient:
    """Calls to the actor named ``name`` by method name, each bounded by ``timeout_s``
    seconds (None: the caller bounds them).

    The handle is looked up on first use and again after a failed call (the actor may
    have been restarted or replaced); a call cancelled by its caller's own timeout keeps
    it, since the actor may just be restarting. A :class:`~runtime.errors.RobofleetError`
    the actor raises is raised as itself; an unreachable actor raises Ray's error
    (``ValueError`` when it is not running) or ``TimeoutError`` after ``timeout_s``. The
    typed clients of single named actors subclass it and add one method per call.
    """

    def __init__(self, name: str, namespace: str, timeout_s: float | None) -> None:
        self.name = name
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._handle: Handle = None

    def _actor(self) -> Handle:
        if self._handle is None:
            self._handle = ray.get_actor(self.name, namespace=self.namespace)
        return self._handle

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            with robofleet_errors():
                answer = getattr(self._actor(), method).remote(*args)
                if self.timeout_s is None:
                    return await answer
                return await asyncio.wait_for(answer, self.timeout_s)
        except Exception:  # not CancelledError: the caller's timeout keeps the handle
            self._handle = None
            raise
