"""In-process stand-ins for what the orchestrator reaches through Ray: replicas and nodes.

:class:`FakeReplicaDriver` satisfies :class:`actors.driver.ReplicaDriver`. Each replica it
starts is a real :class:`actors.replica.ReplicaHost` (so outcomes, timeouts and cancels are
the replica's own) wrapped in a :class:`FakeReplica` that a test can kill, make hang or
report a health. Robots say what they do through their payload (see :class:`Scripted`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from actors.replica import ReplicaHost
from runtime.config import Settings
from runtime.errors import PermanentError, ReplicaLost, RetryableError
from runtime.messages import Dispatch, Outcome, Progress
from runtime.models import HealthState, ModuleSpec, Robot
from runtime.placement import NodeView
from runtime.sdk import Module, RobotContext

SCRIPTED = "tests.unit.fakes:Scripted"


class Scripted(Module):
    """A module whose robots do what their payload says.

    Payload keys: ``sleep`` (seconds), ``fail`` (error text; retryable unless ``permanent``),
    ``fail_attempts`` (fail only these attempts), ``hang_attempts`` (run until cancelled on
    these attempts), ``ignore_cancel`` (keep hanging even when cancelled), ``progress``
    (report this fraction first). Module option ``fail_all`` makes every robot fail
    retryably with that text (a broken module).
    """

    types = ("task",)

    async def run(self, robot: Robot, ctx: RobotContext) -> Any:
        """Follow the payload's script."""
        p = robot.payload
        if "progress" in p:
            ctx.progress(p["progress"], "halfway")
        if self.options.get("fail_all"):
            raise RetryableError(self.options["fail_all"])
        if robot.attempt in p.get("hang_attempts", ()):
            while not ctx.cancelled or p.get("ignore_cancel"):
                await asyncio.sleep(0.01)
            return None
        if p.get("sleep"):
            await asyncio.sleep(p["sleep"])
        fail_attempts = p.get("fail_attempts")
        if p.get("fail") and (fail_attempts is None or robot.attempt in fail_attempts):
            error = PermanentError if p.get("permanent") else RetryableError
            raise error(p["fail"])
        return {"done": robot.payload.get("n"), "attempt": robot.attempt}


class FakeReplica:
    """One in-process replica: a real ReplicaHost that a test can kill or make unhealthy."""

    def __init__(
        self,
        spec: ModuleSpec,
        name: str,
        node_id: str,
        on_progress: Callable[[list[Progress]], None] | None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.node_id = node_id
        self.host = ReplicaHost(
            spec.model_dump(by_alias=True), name, on_progress, progress_interval_s=0.01
        )
        self.health: HealthState | None = HealthState.HEALTHY  # None: health checks hang
        self.dead = False
        self.stopped = False
        self.cancels: list[str] = []
        self.dispatched: list[str] = []
        self._killed = asyncio.Event()

    def kill(self) -> None:
        """Die: running calls raise ``ReplicaLost``, as a dead Ray actor's would."""
        self.dead = True
        self._killed.set()

    async def run(self, dispatch: Dispatch) -> list[Outcome]:
        """Run robots on the host unless the replica dies first."""
        if self.dead:
            raise ReplicaLost(f"{self.name} is dead")
        self.dispatched.extend(r.id for r in dispatch.robots)
        work = asyncio.ensure_future(self.host.run_batch(dispatch))
        killed = asyncio.ensure_future(self._killed.wait())
        try:
            await asyncio.wait({work, killed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            killed.cancel()
        if work.done():
            return work.result()
        work.cancel()
        raise ReplicaLost(f"{self.name} died")


class FakeReplicaDriver:
    """A :class:`~actors.driver.ReplicaDriver` over in-process replicas and a node list.

    ``nodes`` are node ids (all alive, one CPU each unless given as :class:`NodeView`).
    ``start_failures`` makes the next that many starts raise. Every replica ever started
    stays in ``started``; ``live`` maps names to the replicas not stopped.
    """

    def __init__(self, nodes: list[str | NodeView] | None = None) -> None:
        self.node_views: dict[str, NodeView] = {}
        for node in nodes or ["node-a"]:
            view = node if isinstance(node, NodeView) else NodeView(node, True, {"CPU": 8.0})
            self.node_views[view.node_id] = view
        self.live: dict[str, FakeReplica] = {}
        self.started: list[FakeReplica] = []
        self.start_failures = 0
        self.on_progress: Callable[[list[Progress]], None] | None = None
        self._round_robin = itertools.cycle(list(self.node_views))

    # -- what a test does -------------------------------------------------------------------

    def replica(self, name: str) -> FakeReplica:
        """The live replica of that name."""
        return self.live[name]

    def kill_node(self, node_id: str) -> None:
        """The node dies: it is reported dead and its replicas die with it."""
        self.node_views[node_id].alive = False
        for replica in self.live.values():
            if replica.node_id == node_id:
                replica.kill()

    def add_node(self, node_id: str, cpus: float = 8.0) -> None:
        """A node joins the cluster."""
        self.node_views[node_id] = NodeView(node_id, True, {"CPU": cpus})

    def close(self) -> None:
        """Kill every replica (ends the robots still hanging on them)."""
        for replica in self.started:
            replica.kill()
            for robot_id in list(replica.host._contexts):
                replica.host.cancel(robot_id)

    # -- the ReplicaDriver protocol ---------------------------------------------------------

    async def start(self, spec: ModuleSpec, name: str, node_id: str | None = None) -> FakeReplica:
        """Start a replica on ``node_id`` (or the next live node)."""
        if self.start_failures:
            self.start_failures -= 1
            raise RuntimeError("the node refused the replica")
        if node_id is None:
            node_id = next(self._round_robin)
        replica = FakeReplica(spec, name, node_id, self.on_progress)
        self.live[name] = replica
        self.started.append(replica)
        return replica

    async def find(self, name: str) -> FakeReplica | None:
        """The live replica of that name (after an orchestrator restart), or None."""
        replica = self.live.get(name)
        return replica if replica is not None and not replica.dead else None

    async def run(self, handle: FakeReplica, dispatch: Dispatch) -> list[Outcome]:
        """Run robots on the replica."""
        return await handle.run(dispatch)

    async def health(self, handle: FakeReplica) -> HealthState:
        """The replica's health: what the test set, or a hang, or ReplicaLost if dead."""
        if handle.dead:
            raise ReplicaLost(f"{handle.name} is dead")
        if handle.health is None:
            await asyncio.sleep(3600)
        assert handle.health is not None
        return handle.health

    async def cancel(self, handle: FakeReplica, robot_id: str) -> bool:
        """Record the cancel and pass it to the host."""
        handle.cancels.append(robot_id)
        return False if handle.dead else handle.host.cancel(robot_id)

    async def stop(self, handle: FakeReplica) -> None:
        """Stop the replica for good."""
        handle.stopped = True
        handle.kill()
        if self.live.get(handle.name) is handle:
            del self.live[handle.name]

    def node_of(self, handle: FakeReplica) -> str | None:
        """The node the replica runs on."""
        return handle.node_id

    async def nodes(self) -> list[NodeView]:
        """Every node, alive or dead."""
        return [NodeView(n.node_id, n.alive, dict(n.resources)) for n in self.node_views.values()]


def fast_settings(
    data_dir: Any, modules: list[dict[str, Any]] | None = None, **knobs: Any
) -> Settings:
    """Settings with small timing knobs, the store in ``data_dir`` and Scripted modules."""
    specs = modules or [{"name": "work", "class": SCRIPTED, "replicas": 2, "max_concurrency": 4}]
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "modules": [ModuleSpec.model_validate(s) for s in specs],
        "health_interval_s": 0.05,
        "health_timeout_s": 0.5,
        "retry_base_s": 0.01,
        "retry_max_s": 0.02,
        "cancel_grace_s": 0.3,
        "breaker_reset_s": 60.0,
    }
    values.update(knobs)
    return Settings(**values)


class Clock:
    """A clock the test moves: calling it answers ``now`` (Unix seconds), which the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def eventually(check: Callable[[], Any], timeout_s: float = 5.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after a timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)
