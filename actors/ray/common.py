"""What the Ray actors share: where head-only actors go, how a lost actor shows, the
names of the orchestrator and the gateways."""

from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

__all__ = [
    "GATEWAY_PREFIX",
    "HEAD_NODE_RESOURCE",
    "LOST_ERRORS",
    "ORCHESTRATOR_NAME",
    "Handle",
    "orchestrator_handle",
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


def orchestrator_handle(namespace: str) -> Handle:
    """The orchestrator actor's handle; raises ``ValueError`` when it is not running."""
    return ray.get_actor(ORCHESTRATOR_NAME, namespace=namespace)
