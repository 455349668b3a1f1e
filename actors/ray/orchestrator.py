"""The orchestrator on Ray: the actor with its gauges, its options, and the typed client.

:class:`OrchestratorClient` is how everything outside the orchestrator reaches it: the
gateway (as its ``ControlPlane``), the command line and the benchmarks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from typing import Any

import ray

from actors.orchestrator import Orchestrator
from actors.ray.cache import RayCacheCalls
from actors.ray.common import (
    GATEWAY_PREFIX,
    ORCHESTRATOR_NAME,
    Handle,
    head_actor_options,
    orchestrator_handle,
    robofleet_errors,
)
from actors.ray.figures import OrchestratorFigures, push_every
from actors.ray.notifier import NotifierClient
from actors.ray.replica import RayReplicaDriver
from runtime.config import Settings
from runtime.heap import settle_heap
from runtime.messages import (
    CancelAnswer,
    ModuleInfo,
    RobotFigures,
    ScheduleAnswer,
    SubmitAnswer,
    SubmitRequest,
)
from runtime.models import ClusterNode, ClusterView
from runtime.routing import RouteDecision
from runtime.rules.model import Rule, RuleRecord
from runtime.sdk import MetricSample
from runtime.store import create_store

__all__ = ["OrchestratorActor", "OrchestratorClient", "RemoteOrchestrator", "orchestrator_options"]

log = logging.getLogger(__name__)

REPLICA_METRICS_TIMEOUT_S = 2.0
GATEWAY_NODE_TIMEOUT_S = 2.0


class OrchestratorActor(Orchestrator):
    """The orchestrator as a Ray actor: builds its store and drivers from settings.

    Every second it copies its robot figures into Ray custom metrics (see
    :mod:`actors.ray.figures`): queue depth per module, in flight per replica, dispatches,
    outcomes, retries, attempt run times and ``robofleet_module_unplaceable``.
    """

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        # Ray awaits an async actor's __init__ before the first call.
        parsed = Settings(**settings)
        super().__init__(
            parsed,
            create_store(parsed),
            RayReplicaDriver(parsed.namespace),
            RayCacheCalls(parsed.namespace),
        )
        await self.start()
        nudge = NotifierClient(parsed.namespace).nudge
        self.writer.after_deliveries = nudge  # robot events' deliveries
        self.rules.after_deliveries = nudge  # running and metric rules' deliveries
        # After start(): a queue recovered from the store is frozen with the rest, so no
        # later collection walks it (settle_heap collects first: no garbage is frozen).
        settle_heap()
        self._figures = OrchestratorFigures()
        self._figures_task = asyncio.get_running_loop().create_task(
            push_every(self._push_figures, lambda: self.stopping)
        )

    def ready(self) -> bool:
        """Answer once the orchestrator has started (used by readiness checks)."""
        return True

    def pid(self) -> int:
        """This actor's process id (tests SIGKILL it to prove recovery)."""
        return os.getpid()

    def _push_figures(self) -> None:
        self._figures.push(
            self.queue_depths(),
            self.replica_in_flight(),
            {m.name: m.unplaceable is not None for m in self.modules.values()},
            self.tally,
        )


RemoteOrchestrator = ray.remote(OrchestratorActor)


def orchestrator_options(namespace: str) -> dict[str, Any]:
    """Ray options of the orchestrator: named, detached, on the head node, restarted forever.

    Calls retry by themselves while it restarts (``max_task_retries=-1``).
    """
    return head_actor_options(
        ORCHESTRATOR_NAME, namespace, max_concurrency=10_000, max_task_retries=-1
    )


class OrchestratorClient:
    """The orchestrator actor behind typed calls: the gateway's ``ControlPlane``.

    The handle is looked up on first use (``ValueError`` if the orchestrator is not running).
    A :class:`~runtime.errors.RobofleetError` the orchestrator raises is raised here as
    itself, not wrapped in Ray's task error, so callers translate it like a local one.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._handle: Handle = None

    @property
    def handle(self) -> Handle:
        """The orchestrator actor's handle, looked up once."""
        if self._handle is None:
            self._handle = orchestrator_handle(self.namespace)
        return self._handle

    async def _call(self, method: str, *args: Any) -> Any:
        with robofleet_errors():
            return await getattr(self.handle, method).remote(*args)

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        """Persist and enqueue robots; one answer per request, in order."""
        answers: list[SubmitAnswer] = await self._call("submit_many", requests)
        return answers

    async def list_modules(self) -> list[ModuleInfo]:
        """Registered modules with their health, breaker, queue and replicas."""
        modules: list[ModuleInfo] = await self._call("list_modules")
        return modules

    async def register_module(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Validate and deploy a module; raises ModuleRejected or ModuleExists."""
        info: ModuleInfo = await self._call("register_module", raw_spec)
        return info

    async def scale_module(self, name: str, replicas: int) -> ModuleInfo:
        """Change a module's replica count; raises UnknownModule or ModuleRejected."""
        info: ModuleInfo = await self._call("scale_module", name, replicas)
        return info

    async def cancel(self, robot_id: str) -> CancelAnswer:
        """Cancel a queued robot or ask a running one to stop.

        Raises RobotNotFound, AlreadyTerminal or NotCancellable.
        """
        answer: CancelAnswer = await self._call("cancel", robot_id)
        return answer

    async def route_wait(self, robot_id: str) -> RouteDecision | None:
        """Why a queued robot waits in line now, or None (see ``Orchestrator.route_wait``)."""
        decision: RouteDecision | None = await self._call("route_wait", robot_id)
        return decision

    async def ready(self) -> bool:
        """Whether the orchestrator answers (raises if it cannot be reached)."""
        return bool(await self._call("ready"))

    async def robot_figures(self) -> RobotFigures:
        """The fleet's robot figures for ``/metrics``: one call, whatever the robot count."""
        figures: RobotFigures = await self._call("robot_figures")
        return figures

    async def cluster(self) -> ClusterView:
        """Nodes with their resources (``node:`` markers left out), gateways and replicas."""
        nodes = await asyncio.to_thread(ray.nodes)
        named = await asyncio.to_thread(ray.util.list_named_actors, True)
        gateways = sorted(
            a["name"]
            for a in named
            if a.get("namespace") == self.namespace and a["name"].startswith(GATEWAY_PREFIX)
        )
        replica_nodes: dict[str, str | None] = await self._call("replica_nodes")
        gateway_nodes = await asyncio.gather(*(self._gateway_node(g) for g in gateways))
        return ClusterView(
            nodes=[
                ClusterNode(
                    node_id=node["NodeID"],
                    address=node.get("NodeManagerAddress"),
                    alive=bool(node["Alive"]),
                    resources={
                        k: v
                        for k, v in node.get("Resources", {}).items()
                        if not k.startswith("node:")
                    },
                    gateways=[
                        g
                        for g, n in zip(gateways, gateway_nodes, strict=True)
                        if n == node["NodeID"]
                    ],
                    replicas=sorted(r for r, n in replica_nodes.items() if n == node["NodeID"]),
                )
                for node in nodes
            ]
        )

    async def create_rule(self, rule: Rule) -> RuleRecord:
        """Add a rule or schedule; raises RuleExists when its id is taken."""
        record: RuleRecord = await self._call("create_rule", rule)
        return record

    async def delete_rule(self, rule_id: str) -> None:
        """Remove a rule; raises UnknownRule, or RuleExists for a rule of the config file."""
        await self._call("delete_rule", rule_id)

    async def pause_schedule(self, rule_id: str, paused: bool) -> RuleRecord:
        """Pause (``paused``) or resume a schedule; raises UnknownRule."""
        record: RuleRecord = await self._call("pause_schedule", rule_id, paused)
        return record

    async def trigger_schedule(self, rule_id: str) -> ScheduleAnswer:
        """Fire a schedule now; raises UnknownRule or RuleRejected."""
        answer: ScheduleAnswer = await self._call("trigger_schedule", rule_id)
        return answer

    async def backfill_schedule(self, rule_id: str, start: float, end: float) -> ScheduleAnswer:
        """Fire a schedule's past slots in [start, end]; raises UnknownRule or RuleRejected."""
        answer: ScheduleAnswer = await self._call("backfill_schedule", rule_id, start, end)
        return answer

    async def module_metrics(self) -> list[MetricSample]:
        """Every live replica's own samples, labelled with ``module`` and ``replica``.

        A replica that does not answer within 2 s (being replaced, say) misses this scrape.
        """
        replicas = [
            (module.name, replica.name)
            for module in await self.list_modules()
            for replica in module.replicas
            if replica.alive
        ]
        answers = await asyncio.gather(*(self._replica_metrics(name) for _, name in replicas))
        return [
            dataclasses.replace(sample, labels={"module": module, "replica": name, **sample.labels})
            for (module, name), samples in zip(replicas, answers, strict=True)
            for sample in samples
        ]

    async def _replica_metrics(self, name: str) -> list[MetricSample]:
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
            samples: list[MetricSample] = await asyncio.wait_for(
                handle.module_metrics.remote(), REPLICA_METRICS_TIMEOUT_S
            )
        except Exception:
            return []  # a replica being replaced just misses this scrape
        return samples

    async def _gateway_node(self, name: str) -> str | None:
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
            node: str = await asyncio.wait_for(handle.node_id.remote(), GATEWAY_NODE_TIMEOUT_S)
        except Exception:
            return None
        return node
