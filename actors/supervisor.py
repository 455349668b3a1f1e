"""Supervision: bring replicas up where they fit, check them, replace lost ones, drain, scale.

The supervisor owns the deployed modules (:mod:`actors.deployment`) and moves their replica
slots through their states; it reaches replicas only through a
:class:`~actors.driver.ReplicaDriver`. It knows nothing of robots: when a replica is lost
it hands the robot ids that ran there to ``on_lost``, and when one can take work it calls
``on_ready`` (the orchestrator's requeue and wake-up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from actors.deployment import DeployedModule, ReplicaSlot, new_deployed_module
from actors.driver import ReplicaDriver
from runtime.backoff import NO_JITTER, backoff_delay
from runtime.config import Settings
from runtime.errors import ModuleRejected, UnknownModule, validation_message
from runtime.models import HealthState, ModuleSpec
from runtime.placement import NodeView, choose_node, demand_of, room_for
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

PLACEMENT_RETRY_S = 2.0
NODE_WATCH_INTERVAL_S = 1.0
SCALE_DOWN_GRACE_S = 60.0
IDLE_POLL_S = 0.1

LostRobots = Callable[[DeployedModule, ReplicaSlot, set[str], str], None]
"""``on_lost(module, slot, robot_ids, reason)``: robots that ran on a replica that is gone."""


class Supervisor:
    """Keeps every module's replicas up: placement, health checks, replacement, drain, scale.

    ``on_lost`` is called with a module, its slot and the robot ids that were running on it,
    so the orchestrator can requeue them; ``on_ready`` when a replica can take work;
    ``on_checked`` (awaited) after each round of health checks.
    """

    def __init__(
        self,
        driver: ReplicaDriver,
        settings: Settings,
        on_lost: LostRobots,
        on_ready: Callable[[], None],
        on_checked: Callable[[], Awaitable[None]] | None = None,
        node_watch_interval_s: float = NODE_WATCH_INTERVAL_S,
    ) -> None:
        self.driver = driver
        self.settings = settings
        self.on_lost = on_lost
        self.on_ready = on_ready
        self.on_checked = on_checked
        self.node_watch_interval_s = node_watch_interval_s
        self.modules: dict[str, DeployedModule] = {}
        self.draining: set[str] = set()
        self.leaving: set[ReplicaSlot] = set()  # scaled away, still holding their resources
        self.stopping = False
        self.tasks = BackgroundTasks("supervisor")

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the health-check and node-watch loops (on the running event loop)."""
        self.tasks.spawn(self._health_loop())
        self.tasks.spawn(self._node_watch_loop())

    def stop(self) -> None:
        """Stop every loop and pending bring-up (replicas themselves are left running)."""
        self.stopping = True
        self.tasks.cancel_all()

    def deploy(self, spec: ModuleSpec, reuse: bool) -> DeployedModule:
        """Add a module and start bringing up its replicas (adopting live ones if ``reuse``)."""
        module = new_deployed_module(spec, self.settings)
        self.modules[spec.name] = module
        for slot in module.replicas:
            self.tasks.spawn(self.bring_up(module, slot, reuse=reuse))
        return module

    # -- bringing replicas up ------------------------------------------------------------------

    async def bring_up(self, module: DeployedModule, slot: ReplicaSlot, reuse: bool) -> None:
        """Start a replica (or adopt a live one of the same name), retrying until it answers.

        The replica goes to the eligible node holding the fewest replicas of its module; while
        no node is eligible the module reports itself unplaceable and its robots wait queued.
        Gives up quietly if the slot is retired meanwhile.
        """
        failures = 0
        while not slot.retired:
            try:
                handle = await self.driver.find(slot.name) if reuse else None
                if handle is None:
                    node_id = await self._place(module, slot)
                    if node_id is None:
                        await asyncio.sleep(PLACEMENT_RETRY_S)
                        continue
                    slot.reserve_node(node_id)
                    handle = await self.driver.start(module.spec, slot.name, node_id)
                break
            except Exception as exc:
                failures += 1
                delay = backoff_delay(failures, 0.2, 5.0, spread=NO_JITTER)
                log.warning(
                    "replica %s did not start (%s); retrying in %.1fs", slot.name, exc, delay
                )
                await asyncio.sleep(delay)
        else:
            return
        if not slot.up(handle, self.driver.node_of(handle)):
            await self._stop(slot.name, handle)  # scaled away while it started
            return
        self.on_ready()

    async def _place(self, module: DeployedModule, slot: ReplicaSlot) -> str | None:
        demand = demand_of(module.spec.resources)
        nodes = [
            NodeView(n.node_id, n.alive, n.resources, n.node_id in self.draining)
            for n in await self.driver.nodes()
        ]
        counts: dict[str, int] = {}
        for other in module.replicas:
            if other is not slot and other.node_id and not other.retired:
                counts[other.node_id] = counts.get(other.node_id, 0) + 1
        node_id = choose_node(nodes, demand, counts)
        reason = None if node_id is not None else f"no live node offers {demand or 'a slot'}"
        if module.set_unplaceable(reason) and reason is not None:
            log.warning("module %s is unplaceable: %s", module.name, reason)
        return node_id

    # -- taking replicas down ----------------------------------------------------------------

    def replace(self, module: DeployedModule, slot: ReplicaSlot, reason: str) -> None:
        """Take a replica out of routing, hand back its robots, and start a new one in its place.

        The module's other replicas keep taking work meanwhile: a lost replica is not a
        failure of the module's code and its breaker does not count it. The new replica
        starts at once, or after a growing delay when the slot keeps losing its replicas
        (:meth:`~actors.deployment.ReplicaSlot.restart_delay`). Does nothing if the slot is
        already being replaced or is retired.
        """
        lost = slot.start_replacing()
        if lost is None:
            return
        log.warning("replacing replica %s: %s", slot.name, reason)
        self.on_lost(module, slot, lost, reason)
        self.tasks.spawn(self._swap(module, slot))

    async def _swap(self, module: DeployedModule, slot: ReplicaSlot) -> None:
        handle = slot.detach()
        if handle is not None:
            await self._stop(slot.name, handle)
        delay = slot.restart_delay()
        if delay:
            log.warning("replica %s keeps being lost; restarting it in %.1fs", slot.name, delay)
            await asyncio.sleep(delay)
        await self.bring_up(module, slot, reuse=False)

    async def retire(self, slot: ReplicaSlot) -> None:
        """Stop a replica's actor for good; its slot never comes back."""
        slot.retire()
        handle = slot.detach()
        if handle is not None:
            await self._stop(slot.name, handle)

    async def _stop(self, name: str, handle: object) -> None:
        try:
            await self.driver.stop(handle)
        except Exception:
            log.exception("stopping replica %s failed", name)

    # -- health ----------------------------------------------------------------------------

    async def check(self, module: DeployedModule, slot: ReplicaSlot) -> None:
        """Health-check one replica with a timeout; replace it if it fails or says unhealthy."""
        if slot.replacing or slot.handle is None:
            return
        try:
            health = await asyncio.wait_for(
                self.driver.health(slot.handle), self.settings.health_timeout_s
            )
        except TimeoutError:
            self.replace(module, slot, "health check timed out")
            return
        except Exception as exc:
            self.replace(module, slot, f"health check failed: {exc}")
            return
        slot.set_health(health)
        if health is HealthState.UNHEALTHY:
            self.replace(module, slot, "module reports unhealthy")

    async def check_all(self) -> None:
        """Health-check every replica concurrently; one failure never stops the others."""
        checks = [self.check(m, r) for m in list(self.modules.values()) for r in m.replicas]
        for result in await asyncio.gather(*checks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("health check step failed: %r", result)

    async def _health_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.settings.health_interval_s)
            try:
                await self.check_all()
            except Exception:
                log.exception("health loop step failed")
            if self.on_checked is not None:
                try:
                    await self.on_checked()
                except Exception:
                    log.exception("publishing module health failed")

    # -- the cluster -------------------------------------------------------------------------

    async def watch_nodes_once(self) -> None:
        """Replace the replicas of nodes the cluster reports dead, before a call to them fails."""
        dead = {n.node_id for n in await self.driver.nodes() if not n.alive}
        for module in list(self.modules.values()):
            for slot in module.replicas:
                if slot.node_id in dead and not slot.replacing:
                    self.replace(module, slot, "its node was lost")

    async def _node_watch_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.node_watch_interval_s)
            try:
                await self.watch_nodes_once()
            except Exception:
                log.exception("node watch step failed")

    async def drain_node(self, node_id: str, timeout_s: float = 60.0) -> int:
        """Stop sending work to a node, let its robots finish, move its replicas elsewhere.

        Robots still running when ``timeout_s`` passes are handed to ``on_lost`` (requeued).
        The node stays excluded from placement. Returns how many replicas were moved.
        """
        self.draining.add(node_id)
        on_node = [
            (module, slot)
            for module in self.modules.values()
            for slot in module.replicas
            if slot.node_id == node_id
        ]
        for _, slot in on_node:
            slot.stop_taking_work()
        deadline = time.monotonic() + timeout_s
        while any(s.in_flight for _, s in on_node) and time.monotonic() < deadline:
            await asyncio.sleep(IDLE_POLL_S)
        for module, slot in on_node:
            self.replace(module, slot, "its node is draining")
        return len(on_node)

    def scale(self, name: str, replicas: int) -> DeployedModule:
        """Change a module's replica count; new replicas go where placement puts them now.

        Replicas that leave take no new work, finish their robots (those still running after
        a grace are requeued through ``on_lost``) and are retired. Raises ``UnknownModule``
        for an unknown name and ``ModuleRejected`` for a count outside 0..256. The caller
        saves the module's new spec.
        """
        module = self.modules.get(name)
        if module is None:
            raise UnknownModule(f"no module named {name!r}")
        try:
            added, leaving = module.resize(replicas)
        except ValidationError as exc:
            if not 0 <= replicas <= 256:
                raise ModuleRejected("replicas must be between 0 and 256") from None
            raise ModuleRejected(validation_message(exc, "replicas")) from None
        for slot in added:
            self.tasks.spawn(self.bring_up(module, slot, reuse=False))
        for slot in leaving:
            self.leaving.add(slot)
            self.tasks.spawn(self._retire_when_idle(module, slot))
        return module

    async def room(self, module: DeployedModule) -> int | None:
        """How many more replicas of ``module`` the cluster can place now (None: no bound).

        Counts the resources every module's replicas hold on each live node (a leaving
        replica holds them until it is retired) and the module's own replicas still waiting
        for a node.
        """
        nodes = [
            NodeView(n.node_id, n.alive, n.resources, n.node_id in self.draining)
            for n in await self.driver.nodes()
        ]
        reserved: dict[str, dict[str, float]] = {}
        held = [(m, s) for m in self.modules.values() for s in m.replicas]
        held += [(self.modules[s.module], s) for s in self.leaving if s.module in self.modules]
        for other, slot in held:
            if slot.node_id is not None and not slot.retired:
                used = reserved.setdefault(slot.node_id, {})
                for name, amount in demand_of(other.spec.resources).items():
                    used[name] = used.get(name, 0.0) + amount
        room = room_for(nodes, demand_of(module.spec.resources), reserved)
        if room is None:
            return None
        waiting = sum(1 for s in module.replicas if s.node_id is None and not s.retired)
        return max(0, room - waiting)

    async def _retire_when_idle(self, module: DeployedModule, slot: ReplicaSlot) -> None:
        deadline = time.monotonic() + SCALE_DOWN_GRACE_S
        while slot.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(IDLE_POLL_S)
        lost = slot.take_all()
        if lost:
            self.on_lost(module, slot, lost, "scaled down")
        try:
            await self.retire(slot)
        finally:
            self.leaving.discard(slot)
