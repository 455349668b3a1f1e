"""The gateway's app state: every ``web.AppKey``, and the protocols of what the app is given.

``create_app`` fills each key once; handlers and middlewares read them with
``request.app[KEY]``. The components behind the keys live in their own modules, none of
which imports this one, so the keys can name their real types.

===================  ====================  ==============================================
key                  type                  what
===================  ====================  ==============================================
SETTINGS             Settings              the gateway's configuration
CONTROL              ControlPlane          the orchestrator (submit, cancel, modules, ...)
STORE                RobotStore            robots, keys and the audit log
BATCHER              SubmitBatcher         submits sharing orchestrator calls
KEY_CACHE            KeyCache              API key records by hash
PERMISSIONS          dict                  (method, path template) -> Permission
MODULE_DIRECTORY     ModuleDirectory       robot type -> module names
RATE_LIMITER         RateLimiter           token buckets (Redis or local)
AUDIT_LOG            AuditLog              audit entries written in the background
CACHE                GatewayCache          the way to the cache actor
ROBOT_READS          RobotReads            robot reads: finished ones in memory, list pages
DOCUMENTS            Shelf                 uploaded documents
MAILBOXES            MailboxWatch          mailbox states for /readyz (optional: absent, none)
===================  ====================  ==============================================
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from gateway.audit import AuditLog
from gateway.auth import KeyCache
from gateway.batching import SubmitBatcher
from gateway.cache_client import GatewayCache
from gateway.ratelimit import RateLimiter
from gateway.readiness import MailboxWatch
from gateway.robot_reads import RobotReads
from gateway.scope import ModuleDirectory
from runtime.config import Settings
from runtime.keys import Permission
from runtime.messages import (
    CancelAnswer,
    DocumentAnswer,
    ModuleInfo,
    RobotFigures,
    ScheduleAnswer,
    SubmitAnswer,
    SubmitRequest,
)
from runtime.models import ClusterView
from runtime.routing import RouteDecision
from runtime.rules.model import Rule, RuleRecord
from runtime.sdk import MetricSample
from runtime.store.base import RobotStore

__all__ = [
    "AUDIT_LOG",
    "BATCHER",
    "CACHE",
    "CONTROL",
    "DOCUMENTS",
    "KEY_CACHE",
    "MAILBOXES",
    "MODULE_DIRECTORY",
    "PERMISSIONS",
    "RATE_LIMITER",
    "ROBOT_READS",
    "SETTINGS",
    "STORE",
    "ControlPlane",
    "Shelf",
]


class ControlPlane(Protocol):
    """What the gateway asks of the orchestrator; every call the gateway makes is here.

    Refusals are raised as :class:`~runtime.errors.RobofleetError` subclasses, which the
    gateway translates at its boundary; only a submit answers a refusal per robot
    (``SubmitAnswer.error``), so one bad robot never fails the batch it travelled with.
    """

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        """Persist and enqueue robots; one answer per request, in order."""
        ...

    async def list_modules(self) -> list[ModuleInfo]:
        """Registered modules with their health, breaker, queue and replicas."""
        ...

    async def register_module(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Validate and deploy a module; raises ModuleRejected or ModuleExists."""
        ...

    async def scale_module(self, name: str, replicas: int) -> ModuleInfo:
        """Change a module's replica count; raises UnknownModule or ModuleRejected."""
        ...

    async def cancel(self, robot_id: str) -> CancelAnswer:
        """Cancel a queued robot or ask a running one to stop.

        Raises RobotNotFound, AlreadyTerminal or NotCancellable.
        """
        ...

    async def route_wait(self, robot_id: str) -> RouteDecision | None:
        """Why a queued robot waits in line now (its type's last placement that placed
        nothing), or None."""
        ...

    async def ready(self) -> bool:
        """Whether the orchestrator answers."""
        ...

    async def cluster(self) -> ClusterView:
        """Nodes with their resources, gateways and replicas."""
        ...

    async def module_metrics(self) -> list[MetricSample]:
        """Every live replica's own samples, labelled with ``module`` and ``replica``."""
        ...

    async def robot_figures(self) -> RobotFigures:
        """The fleet's robot figures (queues, in flight, outcomes, run times) for ``/metrics``."""
        ...

    async def create_rule(self, rule: Rule) -> RuleRecord:
        """Add a rule or schedule; raises RuleExists when its id is taken."""
        ...

    async def delete_rule(self, rule_id: str) -> None:
        """Remove a rule; raises UnknownRule, or RuleExists for a rule of the config file."""
        ...

    async def pause_schedule(self, rule_id: str, paused: bool) -> RuleRecord:
        """Pause (``paused``) or resume a schedule; raises UnknownRule."""
        ...

    async def trigger_schedule(self, rule_id: str) -> ScheduleAnswer:
        """Fire a schedule now; raises UnknownRule or RuleRejected."""
        ...

    async def backfill_schedule(self, rule_id: str, start: float, end: float) -> ScheduleAnswer:
        """Fire a schedule's past slots in [start, end]; raises UnknownRule or RuleRejected."""
        ...


class Shelf(Protocol):
    """Where the gateway stores documents and looks them up."""

    async def put(self, data: bytes) -> DocumentAnswer:
        """Store a document; raises ``BadDocument`` with the reason when it is refused."""
        ...

    async def info(self, doc_id: str) -> DocumentAnswer | None:
        """A stored document's id, size and type, or None."""
        ...


SETTINGS = web.AppKey("settings", Settings)
CONTROL = web.AppKey("control", ControlPlane)
STORE = web.AppKey("store", RobotStore)
BATCHER = web.AppKey("batcher", SubmitBatcher)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
PERMISSIONS = web.AppKey("permissions", dict[tuple[str, str], Permission])
MODULE_DIRECTORY = web.AppKey("module_directory", ModuleDirectory)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
AUDIT_LOG = web.AppKey("audit_log", AuditLog)
CACHE = web.AppKey("cache", GatewayCache)
ROBOT_READS = web.AppKey("robot_reads", RobotReads)
DOCUMENTS = web.AppKey("documents", Shelf)
MAILBOXES = web.AppKey("mailboxes", MailboxWatch)
