"""The detail document of ``GET /readyz``: store, cache, Redis, each module, each mailbox.

Readiness itself (200 or 503) still means what it always meant: the orchestrator and the
store answer. Everything else is detail an operator (or ``robofleet doctor``) reads to see
what is degraded: Redis down only costs shared rate limits and the shared cache tier, an
open breaker only its module's robots. The document names things and states, never
addresses or credentials, since ``/readyz`` needs no key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from gateway.cache_client import GatewayCache
from runtime.models import HealthState, ModuleInfo

__all__ = [
    "CacheReadiness",
    "MailboxReadiness",
    "MailboxWatch",
    "ModuleReadiness",
    "NotifyReadiness",
    "Readiness",
    "ReadinessDetails",
    "RedisReadiness",
    "StoreReadiness",
    "WebhookReadiness",
    "cache_readiness",
    "module_readiness",
    "store_readiness",
]

CHECK_TIMEOUT_S = 2.0
"""Longest wait for each part (orchestrator, store, modules, mailboxes) of the document."""

RedisState = Literal["ok", "down", "not_configured"]


class StoreReadiness(BaseModel):
    """The store: does a read answer, and how fast."""

    status: Literal["ok", "unavailable"]
    kind: Literal["sqlite", "postgresql"]
    latency_ms: float | None = Field(None, description="Round trip of one read; null if none.")


class RedisReadiness(BaseModel):
    """Redis as this gateway's rate limiter sees it (a live ping while it is up)."""

    status: RedisState = Field(
        description="ok; down (the gateway runs on local buckets and reconnects by itself); "
        "not_configured (no ROBOFLEET_REDIS_URL)."
    )


class CacheReadiness(BaseModel):
    """The ``cache`` actor and its Redis tier."""

    status: Literal["ok", "unavailable", "not_deployed"]
    entries: int | None = Field(None, description="Entries in the cache actor's memory.")
    redis_tier: RedisState = Field(
        "not_configured", description="The cache actor's own Redis tier."
    )


class ModuleReadiness(BaseModel):
    """One module: ``down`` with no live replica or unhealthy, ``degraded`` with its breaker
    not closed, a replica down, degraded health, or no place to run; ``ok`` otherwise."""

    name: str
    status: Literal["ok", "degraded", "down"]
    health: HealthState
    breaker: str
    queued: int
    replicas: int
    replicas_alive: int
    unplaceable: str | None = None


class MailboxReadiness(BaseModel):
    """One watched mailbox; present once mailboxes are configured."""

    name: str
    status: Literal["ok", "connecting", "paused", "stale", "misconfigured", "unreachable"] = Field(
        description="ok: watching; connecting: not connected yet, within its bound; paused; "
        "stale: silent past its bound; misconfigured: its password cannot be read; "
        "unreachable: never reached (bad host, refused), or the email monitor does not answer."
    )
    last_contact_at: float | None = Field(
        None, description="Unix time of the last successful IMAP round trip."
    )
    detail: str | None = None


class WebhookReadiness(BaseModel):
    """One webhook endpoint of ``[notify]`` as the gateway's node sees it."""

    name: str
    secret: bool = Field(
        description="Its secrets_env is set here; without it every delivery to it goes dead."
    )
    disabled: str | None = Field(None, description="Why a 410 disabled it (None: enabled).")


class NotifyReadiness(BaseModel):
    """The notifier's endpoints and dead letter, for ``robofleet doctor``."""

    webhooks: list[WebhookReadiness] = Field(default_factory=list)
    dead: int | None = Field(
        None, description="Deliveries in the dead letter; None when the store did not answer."
    )


class ReadinessDetails(BaseModel):
    """Every part the gateway depends on, each with its own state."""

    orchestrator: Literal["ok", "unavailable"]
    store: StoreReadiness
    cache: CacheReadiness
    redis: RedisReadiness
    modules: list[ModuleReadiness] = Field(
        description="Empty when the orchestrator does not answer."
    )
    mailboxes: list[MailboxReadiness] = Field(
        description="Each watched mailbox; empty when none is configured."
    )
    notify: NotifyReadiness = Field(default_factory=NotifyReadiness)


class Readiness(BaseModel):
    """Answer of ``GET /readyz``: ready when the orchestrator and the store answer."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="What readiness depends on: orchestrator and store, each ok or unavailable."
    )
    details: ReadinessDetails


class MailboxWatch(Protocol):
    """Where the gateway learns the state of each watched mailbox (the email monitor)."""

    async def mailbox_states(self) -> list[MailboxReadiness]:
        """Every watched mailbox with its state."""
        ...


async def store_readiness(
    read: Callable[[], Awaitable[object]], kind: Literal["sqlite", "postgresql"]
) -> StoreReadiness:
    """Time one store read (``read``); unavailable when it fails or takes over 2 s."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(read(), CHECK_TIMEOUT_S)
    except Exception:
        return StoreReadiness(status="unavailable", kind=kind)
    latency = round((time.perf_counter() - started) * 1000, 2)
    return StoreReadiness(status="ok", kind=kind, latency_ms=latency)


async def cache_readiness(cache: GatewayCache) -> CacheReadiness:
    """Ask the cache actor for its statistics (within the cache timeout)."""
    if cache.calls is None:
        return CacheReadiness(status="not_deployed")
    stats = await cache.stats()
    if stats is None:
        return CacheReadiness(status="unavailable")
    tier: RedisState = (
        "not_configured" if not stats.backend_configured else "ok" if stats.backend_up else "down"
    )
    return CacheReadiness(status="ok", entries=stats.memory_entries, redis_tier=tier)


def module_readiness(info: ModuleInfo) -> ModuleReadiness:
    """A module's readiness from what the orchestrator reports of it (an autoscaled module
    at zero replicas is ``ok``: its first robot brings a replica up)."""
    alive = sum(1 for r in info.replicas if r.alive)
    status: Literal["ok", "degraded", "down"] = "ok"
    if not info.replicas and info.autoscaling is not None:
        pass
    elif alive == 0 or info.health is HealthState.UNHEALTHY:
        status = "down"
    elif (
        info.breaker != "closed"
        or alive < len(info.replicas)
        or info.health is HealthState.DEGRADED
        or info.unplaceable
    ):
        status = "degraded"
    return ModuleReadiness(
        name=info.name,
        status=status,
        health=info.health,
        breaker=info.breaker,
        queued=info.queued,
        replicas=len(info.replicas),
        replicas_alive=alive,
        unplaceable=info.unplaceable,
    )
