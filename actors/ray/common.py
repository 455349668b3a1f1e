"""What the Ray actors share: where head-only actors go, how a lost actor shows, the
names of the orchestrator and the gateways."""

from __future__ import annotations

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


def orchestrator_handle(namespace: str) -> Handle:
    """The orchestrator actor's handle; raises ``ValueError`` when it is not running."""
    return ray.get_actor(ORCHESTRATOR_NAME, namespace=namespace)
