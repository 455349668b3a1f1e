"""``robofleet chaos``: drive robots at a running deployment while killing its parts.

Submitters send robots through the gateways, each robot with an ``Idempotency-Key`` of its
own that is sent again after a connection error, a 5xx or a 429, until the gateway
answers it or the run is over. Meanwhile, every ``interval_s``, the next fault of the plan
strikes:

- ``replica``: a live replica of a module serving the workload's robot types, SIGKILLed when
  it runs on this machine and force-killed through Ray elsewhere (the orchestrator replaces
  it; its robots run again);
- ``orchestrator``, ``cache``, ``gateway``: the actor force-killed through Ray, which
  restarts it (a gateway comes back on its port);
- ``postgres``, ``redis``: a command the user gave (``--restart-postgres``,
  ``--restart-redis``), e.g. ``sudo systemctl restart postgresql``.

When the workload stops, every accepted robot is followed until it is terminal, read once
more, and its attempts are read from the deployment's store. The report counts:

- **accepted**: robots a gateway acknowledged (``202``, or ``200`` for a key sent again);
- **terminal**: accepted robots that reached ``succeeded``, ``failed``, ``cancelled`` or
  ``dead``;
- **lost**: accepted robots not terminal after ``settle_s`` seconds, or missing (``404``);
- **doubled**: robots with more than one terminal attempt recorded, whose terminal status
  changed after it was first seen, or an idempotency key answered with two robots.

The store is read with the deployment's own settings (asked from the orchestrator), so the
command must run where that store is reachable: any machine for PostgreSQL, the head node
for SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shlex
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from runtime.config import Settings
from runtime.errors import ConfigError, RobofleetError
from runtime.lifecycle import TERMINAL_STATUSES
from runtime.messages import ReplicaPing

__all__ = [
    "COMMAND_FAULTS",
    "DEFAULT_ROBOTS",
    "FAULTS",
    "KILL_FAULTS",
    "ChaosPlan",
    "ChaosReport",
    "Faults",
    "RayFaults",
    "add_chaos_parser",
    "cmd_chaos",
    "plan_from_args",
    "run_chaos",
    "tally",
]

KILL_FAULTS = ("replica", "orchestrator", "cache", "gateway")
"""Faults struck through Ray, in the order a run takes them by default."""
COMMAND_FAULTS = ("postgres", "redis")
"""Faults that run a command the user gave (``--restart-postgres``, ``--restart-redis``)."""
FAULTS = KILL_FAULTS + COMMAND_FAULTS
TERMINAL = frozenset(str(s) for s in TERMINAL_STATUSES)
"""Terminal statuses as the API spells them."""

DEFAULT_ROBOTS: tuple[dict[str, Any], ...] = (
    {"type": "echo", "payload": {"chaos": True}},
    {"type": "sleep", "payload": {"seconds": 0.5}},
)
"""The workload when none is given: built-in robots, one instant and one that takes 0.5 s
(so replica kills catch robots mid-run)."""

RETRYABLE = frozenset({429, 500, 502, 503, 504})
"""Answers after which a submit is sent again with the same key. Any other refusal (a 409
for the key, a 422) ends that submit and is shown in the report."""
COMMAND_TIMEOUT_S = 120.0
READ_CONCURRENCY = 16
REPLICA_PING_TIMEOUT_S = 5.0
RAY_CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ChaosPlan:
    """What a chaos run does.

    ``urls`` are the gateways the submitters spread over (a connection error moves a
    submitter to the next one); ``duration_s`` how long robots are submitted (seconds);
    ``interval_s`` the time between two faults, taken in turn from ``faults`` (names from
    :data:`FAULTS`; ``postgres`` and ``redis`` need their command in ``commands``);
    ``clients`` how many submitters run at once, each sending one robot at a time, taken in
    turn from ``robots`` (request bodies of ``POST /v1/robots``), ``rate`` robots a second
    in all at most; ``settle_s`` how long
    accepted robots may take to become terminal after the workload stops.
    """

    urls: tuple[str, ...]
    api_key: str | None
    duration_s: float = 30.0
    interval_s: float = 3.0
    clients: int = 8
    rate: float = 50.0
    faults: tuple[str, ...] = KILL_FAULTS
    robots: tuple[dict[str, Any], ...] = DEFAULT_ROBOTS
    commands: Mapping[str, str] = field(default_factory=dict)
    settle_s: float = 120.0
    seed: int | None = None

    def check(self) -> None:
        """Raise ``ConfigError`` for a plan that cannot run (unknown fault, missing command,
        no gateway, no API key, non-positive durations or counts)."""
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ConfigError(f"unknown fault {unknown[0]!r}: choose from {', '.join(FAULTS)}")
        for fault in COMMAND_FAULTS:
            if fault in self.faults and not self.commands.get(fault):
                raise ConfigError(f"the {fault} fault needs its command (--restart-{fault})")
        if not self.urls:
            raise ConfigError("no gateway to send robots to")
        if not self.api_key:
            raise ConfigError("an operator or admin key is needed: --api-key or ROBOFLEET_API_KEY")
        if not self.robots:
            raise ConfigError("no robots to send")
        if min(self.duration_s, self.interval_s, self.settle_s, self.rate) <= 0 or self.clients < 1:
            raise ConfigError("duration, interval, settle and rate must be positive, clients >= 1")


@dataclass
class ChaosReport:
    """What a chaos run saw.

    ``accepted`` maps each acknowledged robot id to the idempotency key it was sent with;
    ``final`` is each accepted robot's terminal status (absent while it is not terminal);
    ``missing`` holds accepted ids the gateway answered ``404`` for at the end; ``doubled``
    holds robot ids (or ``key:<idempotency key>``) found doubled, with the reason;
    ``answers`` counts the gateways' answers to submits by status (``"connection error"``
    when none came); ``faults`` lists what each fault did, as ``(seconds since the start,
    description)``; ``faults_failed`` counts faults that could not be done; ``unanswered``
    counts submits given up at the end of the run without an answer (not accepted, so not
    lost); ``refused`` samples submits refused with a 4xx the workload cannot retry.
    """

    accepted: dict[str, str] = field(default_factory=dict)
    final: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    doubled: dict[str, str] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    faults: list[tuple[float, str]] = field(default_factory=list)
    faults_failed: int = 0
    unanswered: int = 0
    refused: list[str] = field(default_factory=list)

    @property
    def lost(self) -> list[str]:
        """Accepted robots that are missing or never became terminal, sorted."""
        return sorted(rid for rid in self.accepted if rid not in self.final or rid in self.missing)

    @property
    def ok(self) -> bool:
        """True when robots were accepted and none was lost or doubled."""
        return bool(self.accepted) and not self.lost and not self.doubled

    def lines(self) -> list[str]:
        """The report as printed: answers, accepted, terminal, lost, doubled."""
        by_status = Counter(self.final.values())
        answers = ", ".join(f"{k} x {v}" for k, v in sorted(self.answers.items()))
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
        out = [
            f"faults: {len(self.faults) - self.faults_failed} done, {self.faults_failed} failed",
            f"answers: {answers or 'none'}",
            f"unanswered: {self.unanswered}",
            f"accepted: {len(self.accepted)}",
            f"terminal: {len(self.final)}" + (f" ({statuses})" if statuses else ""),
            f"lost: {len(self.lost)}",
            f"doubled: {len(self.doubled)}",
        ]
        out += [f"  lost {rid}" for rid in self.lost[:10]]
        out += [f"  doubled {rid}: {why}" for rid, why in list(self.doubled.items())[:10]]
        out += [f"  refused {text}" for text in self.refused[:5]]
        return out


class Faults(Protocol):
    """What strikes the faults of a run; :class:`RayFaults` on a real deployment."""

    async def strike(self, kind: str) -> str:
        """Do one fault of ``kind``; return what was done. Raises when it cannot be done."""
        ...

    async def terminal_attempts(self, robot_ids: Sequence[str]) -> dict[str, int]:
        """How many terminal attempts the store recorded, for each robot that has any."""
        ...


def tally(
    report: ChaosReport,
    first_seen: Mapping[str, str],
    seen_again: Mapping[str, str | None],
    terminal_attempts: Mapping[str, int],
) -> None:
    """Fill ``report.final`` and ``report.doubled`` from what the settling phase read.

    ``first_seen`` is the terminal status each robot showed first, ``seen_again`` what a
    second read showed (``None`` when it could not be read), ``terminal_attempts`` the
    store's count of terminal attempt records per robot.
    """
    report.final.update(first_seen)
    for rid, status in first_seen.items():
        again = seen_again.get(rid)
        if again is not None and again != status:
            report.doubled[rid] = f"terminal twice: {status}, then {again}"
    for rid, count in terminal_attempts.items():
        if count > 1:
            report.doubled[rid] = f"{count} terminal attempts recorded"


class _Run:
    """One chaos run: submitters, the fault loop, then settling and the checks."""

    def __init__(self, plan: ChaosPlan, faults: Faults, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.faults = faults
        self.say = say
        self.rng = random.Random(plan.seed)
        self.report = ChaosReport()
        self.run_id = uuid.uuid4().hex[:8]
        self.started = time.monotonic()
        self.robot_by_key: dict[str, str] = {}

    async def run(self, session: aiohttp.ClientSession) -> ChaosReport:
        stop_at = self.started + self.plan.duration_s
        give_up_at = stop_at + max(self.plan.interval_s, 10.0)
        clients = [
            asyncio.create_task(self._client(session, n, stop_at, give_up_at))
            for n in range(self.plan.clients)
        ]
        await self._fault_loop(stop_at)
        await asyncio.gather(*clients)
        self.say(f"workload done: {len(self.report.accepted)} accepted; settling...")
        first_seen = await self._settle(session, self.started + self.plan.duration_s)
        seen_again = await self._read_all(session, sorted(first_seen))
        attempts = await self.faults.terminal_attempts(sorted(self.report.accepted))
        tally(self.report, first_seen, seen_again, attempts)
        return self.report

    def _since(self) -> float:
        return time.monotonic() - self.started

    async def _fault_loop(self, stop_at: float) -> None:
        kinds = itertools.cycle(self.plan.faults) if self.plan.faults else iter(())
        while True:
            await asyncio.sleep(self.plan.interval_s)
            if time.monotonic() >= stop_at:
                return
            kind = next(kinds, None)
            if kind is None:
                continue
            at = self._since()
            try:
                what = await self.faults.strike(kind)
            except Exception as exc:  # one failed fault must not end the run
                self.report.faults_failed += 1
                what = f"{kind}: not done ({type(exc).__name__}: {exc})"
            self.report.faults.append((at, what))
            self.say(f"  +{at:5.1f}s  {what}")

    async def _client(
        self, session: aiohttp.ClientSession, n: int, stop_at: float, give_up_at: float
    ) -> None:
        # Each client sends one robot every clients / rate seconds (staggered), or later when
        # the last one took longer to answer; it never catches up in a burst.
        period = self.plan.clients / self.plan.rate
        next_at = self.started + n * period / self.plan.clients
        for i in itertools.count():
            if next_at >= stop_at:
                return
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            robot = self.plan.robots[(n + i) % len(self.plan.robots)]
            await self._submit(session, n, f"chaos-{self.run_id}-{n}-{i}", robot, give_up_at)
            next_at = max(next_at + period, time.monotonic())

    async def _submit(
        self,
        session: aiohttp.ClientSession,
        n: int,
        key: str,
        robot: dict[str, Any],
        give_up_at: float,
    ) -> None:
        """Send one robot until a gateway answers it for good or ``give_up_at`` passes."""
        urls = self.plan.urls
        which = n
        while True:
            url = urls[which % len(urls)]
            try:
                async with session.post(
                    f"{url}/v1/robots", json=robot, headers={"Idempotency-Key": key}
                ) as response:
                    status = response.status
                    body = await response.json(content_type=None)
                    retry_after = response.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientError, ValueError):
                self.report.answers["connection error"] += 1
                which += 1  # try the next gateway
                wait = 0.2
            else:
                self.report.answers[str(status)] += 1
                if status in (200, 202):
                    self._accept(key, str(body["id"]))
                    return
                if status not in RETRYABLE:
                    self.report.refused.append(f"{status} {str(body)[:200]}")
                    return
                wait = _retry_after(retry_after)
            if time.monotonic() + wait > give_up_at:
                self.report.unanswered += 1
                return
            await asyncio.sleep(wait * (0.5 + self.rng.random()))

    def _accept(self, key: str, robot_id: str) -> None:
        known = self.robot_by_key.setdefault(key, robot_id)
        if known != robot_id:
            self.report.doubled[f"key:{key}"] = f"answered with two robots: {known}, {robot_id}"
        self.report.accepted[robot_id] = key

    async def _settle(self, session: aiohttp.ClientSession, since: float) -> dict[str, str]:
        """Read accepted robots until each is terminal or ``settle_s`` has passed."""
        deadline = time.monotonic() + self.plan.settle_s
        first_seen: dict[str, str] = {}
        pending = sorted(self.report.accepted)
        while pending:
            read = await self._read_all(session, pending)
            self.report.missing = {rid for rid, s in read.items() if s == _MISSING}
            for rid, status in read.items():
                if status is not None and status in TERMINAL:
                    first_seen[rid] = status
            pending = [rid for rid in pending if rid not in first_seen]
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
        waited = time.monotonic() - since
        self.say(f"settled in {waited:.1f}s; {len(pending)} robots not terminal")
        return first_seen

    async def _read_all(
        self, session: aiohttp.ClientSession, robot_ids: Sequence[str]
    ) -> dict[str, str | None]:
        """Each robot's status, :data:`_MISSING` for a 404, ``None`` when unreadable now."""
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(rid: str, n: int) -> str | None:
            url = self.plan.urls[n % len(self.plan.urls)]
            async with limit:
                try:
                    async with session.get(f"{url}/v1/robots/{rid}") as response:
                        if response.status == 404:
                            return _MISSING
                        if response.status != 200:
                            return None
                        return str((await response.json())["status"])
                except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
                    return None

        statuses = await asyncio.gather(*(read(rid, n) for n, rid in enumerate(robot_ids)))
        return dict(zip(robot_ids, statuses, strict=True))


_MISSING = "<missing>"


def _retry_after(header: str | None) -> float:
    """Seconds to wait before sending again: the gateway's ``Retry-After`` (at most 5 s)."""
    try:
        return min(max(float(header), 0.05), 5.0) if header else 0.3
    except ValueError:
        return 0.3


async def run_chaos(
    plan: ChaosPlan, faults: Faults, say: Callable[[str], None] = print
) -> ChaosReport:
    """Run ``plan`` against the gateways in ``plan.urls`` with ``faults``; return the report.

    Raises ``ConfigError`` for a plan that cannot run. Progress lines go to ``say``.
    """
    plan.check()
    headers = {"Authorization": f"Bearer {plan.api_key}"} if plan.api_key else {}
    timeout = aiohttp.ClientTimeout(total=30, connect=5)
    connector = aiohttp.TCPConnector(limit=max(plan.clients, READ_CONCURRENCY) + 4)
    async with aiohttp.ClientSession(
        headers=headers, timeout=timeout, connector=connector
    ) as session:
        return await _Run(plan, faults, say).run(session)


class RayFaults:
    """Faults struck at a deployment's actors through Ray, and the user's restart commands.

    The caller is a Ray driver connected to the deployment (``ray.init`` done).
    ``namespace`` is robofleet's Ray namespace; ``types`` the robot types of the workload
    (replica kills pick among the modules serving them); ``commands`` maps ``postgres`` and
    ``redis`` to the command that restarts each; ``settings`` are the deployment's own (for
    reading its store).
    """

    def __init__(
        self,
        namespace: str,
        types: Sequence[str],
        commands: Mapping[str, str],
        settings: Settings,
        rng: random.Random | None = None,
    ) -> None:
        self.namespace = namespace
        self.types = set(types)
        self.commands = dict(commands)
        self.settings = settings
        self.rng = rng or random.Random()

    async def strike(self, kind: str) -> str:
        """Do one fault of ``kind`` (a name in :data:`FAULTS`); return what was done.

        Raises ``RobofleetError`` when there is nothing to strike or a command fails, and
        whatever Ray raises when the actor cannot be reached.
        """
        if kind == "replica":
            return await self._kill_replica()
        if kind == "orchestrator":
            from actors.ray.common import ORCHESTRATOR_NAME

            return await self._kill_named(ORCHESTRATOR_NAME)
        if kind == "cache":
            from actors.ray.cache import CACHE_NAME

            return await self._kill_named(CACHE_NAME)
        if kind == "gateway":
            from actors.ray.common import GATEWAY_PREFIX

            gateways = [n for n in await self._names() if n.startswith(GATEWAY_PREFIX)]
            if not gateways:
                raise RobofleetError("no gateway is running")
            return await self._kill_named(self.rng.choice(sorted(gateways)))
        return await self._run_command(kind)

    async def _names(self) -> list[str]:
        import ray

        named = await asyncio.to_thread(ray.util.list_named_actors, True)
        return [a["name"] for a in named if a.get("namespace") == self.namespace]

    async def _kill_named(self, name: str) -> str:
        """Force-kill a restartable actor; Ray starts it again."""
        import ray

        handle = await asyncio.to_thread(ray.get_actor, name, self.namespace)
        await asyncio.to_thread(ray.kill, handle, no_restart=False)
        return f"{name} killed (Ray restarts it)"

    async def _kill_replica(self) -> str:
        import ray

        from actors.ray.orchestrator import OrchestratorClient

        modules = await asyncio.wait_for(
            OrchestratorClient(self.namespace).list_modules(), RAY_CALL_TIMEOUT_S
        )
        live = sorted(
            r.name for m in modules if self.types & set(m.types) for r in m.replicas if r.alive
        )
        if not live:
            raise RobofleetError(f"no live replica serves {', '.join(sorted(self.types))}")
        name = self.rng.choice(live)
        handle = await asyncio.to_thread(ray.get_actor, name, self.namespace)
        ping: ReplicaPing = await asyncio.wait_for(handle.ping.remote(), REPLICA_PING_TIMEOUT_S)
        if ping.node_id == ray.get_runtime_context().get_node_id():
            os.kill(ping.pid, signal.SIGKILL)
            return f"replica {name} killed (SIGKILL, pid {ping.pid})"
        await asyncio.to_thread(ray.kill, handle, no_restart=True)
        return f"replica {name} killed (Ray force kill, node {str(ping.node_id)[:12]})"

    async def _run_command(self, kind: str) -> str:
        command = self.commands[kind]
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *shlex.split(command),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RobofleetError(f"`{command}` took longer than {COMMAND_TIMEOUT_S:g}s") from None
        if process.returncode != 0:
            tail = output.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise RobofleetError(f"`{command}` exited {process.returncode}: {tail[0][:200]}")
        return f"{kind} restarted by `{command}` ({time.monotonic() - started:.1f}s)"

    async def terminal_attempts(self, robot_ids: Sequence[str]) -> dict[str, int]:
        """Terminal attempt records per robot, read from the deployment's store.

        Raises ``ConfigError`` when the deployment's SQLite file is not on this machine.
        """
        from runtime.store import SQLITE_FILE_NAME, create_store

        db_file = self.settings.data_dir.expanduser() / SQLITE_FILE_NAME
        if not self.settings.database_url and not db_file.exists():
            raise ConfigError(
                f"the deployment's store ({db_file}) is not on this machine: run "
                "`robofleet chaos` on the head node, or use PostgreSQL"
            )
        store = create_store(self.settings)
        await store.open()
        try:
            counts: dict[str, int] = {}
            for rid in robot_ids:
                terminal = sum(str(a.status) in TERMINAL for a in await store.attempts(rid))
                if terminal:
                    counts[rid] = terminal
            return counts
        finally:
            await store.close()


def add_chaos_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``robofleet chaos`` to the command line."""
    chaos = sub.add_parser(
        "chaos",
        help="submit robots while killing replicas, the orchestrator, the cache and gateways; "
        "report lost and doubled robots",
    )
    chaos.add_argument("--duration", type=float, default=30.0, help="seconds of workload")
    chaos.add_argument("--interval", type=float, default=3.0, help="seconds between faults")
    chaos.add_argument("--clients", type=int, default=8, help="concurrent submitters")
    chaos.add_argument(
        "--rate", type=float, default=50.0, help="robots a second, all clients together"
    )
    chaos.add_argument(
        "--faults",
        help=f"comma-separated, taken in turn (default {','.join(KILL_FAULTS)}, plus postgres "
        "and redis when their command is given)",
    )
    chaos.add_argument(
        "--robot",
        action="append",
        help="a robot to submit, as the JSON body of POST /v1/robots (repeatable; default: "
        "echo and a 0.5 s sleep)",
    )
    chaos.add_argument("--restart-postgres", help="command that restarts PostgreSQL")
    chaos.add_argument("--restart-redis", help="command that restarts Redis")
    chaos.add_argument(
        "--settle", type=float, default=120.0, help="seconds robots may take to finish after"
    )
    chaos.add_argument("--seed", type=int, help="seed of the random choices")
    chaos.add_argument("--address", help="Ray cluster address (default 127.0.0.1:6380)")
    chaos.add_argument("--config", help="TOML config file (for the Ray port and namespace)")
    chaos.add_argument("--data-dir", help="data dir (for its settings)")
    client_args(chaos)
    chaos.set_defaults(func=cmd_chaos)


def plan_from_args(args: argparse.Namespace, urls: Sequence[str]) -> ChaosPlan:
    """The plan of ``robofleet chaos`` arguments, sending to ``urls``.

    Without ``--faults`` it takes :data:`KILL_FAULTS` plus each command fault whose command
    is given. Raises ``ValueError`` for a ``--robot`` that is not a JSON object with a type.
    """
    import json

    commands = {
        k: v for k, v in (("postgres", args.restart_postgres), ("redis", args.restart_redis)) if v
    }
    if args.faults:
        faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    else:
        faults = KILL_FAULTS + tuple(k for k in COMMAND_FAULTS if k in commands)
    robots = tuple(json.loads(r) for r in args.robot) if args.robot else DEFAULT_ROBOTS
    if not all(isinstance(r, dict) and isinstance(r.get("type"), str) for r in robots):
        raise ValueError('each --robot must be a JSON object with a "type"')
    return ChaosPlan(
        urls=tuple(urls),
        api_key=args.api_key or os.environ.get("ROBOFLEET_API_KEY"),
        duration_s=args.duration,
        interval_s=args.interval,
        clients=args.clients,
        rate=args.rate,
        faults=faults,
        robots=robots,
        commands=commands,
        settle_s=args.settle,
        seed=args.seed,
    )


def cmd_chaos(args: argparse.Namespace) -> int:
    """Run a chaos run against the deployment at ``--address``; print the report.

    Returns 0 when robots were accepted and none was lost or doubled, 1 otherwise.
    """
    import ray

    from actors.ray.common import GATEWAY_PREFIX, orchestrator_handle
    from cluster import deploy

    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir).expanduser()
    if args.address:
        overrides["ray_address"] = args.address
    local = deploy.load_cluster_settings(args.config, **overrides)
    address = local.ray_address or f"127.0.0.1:{local.ray_port}"
    deploy.connect(address, local.namespace)
    try:
        settings = Settings.model_validate(
            ray.get(
                orchestrator_handle(local.namespace).cluster_settings.remote(),
                timeout=RAY_CALL_TIMEOUT_S,
            )
        )
        urls = [args.url or os.environ.get("ROBOFLEET_URL") or ""]
        for name in deploy.robofleet_actor_names(local.namespace):
            if name.startswith(GATEWAY_PREFIX):
                handle = ray.get_actor(name, namespace=local.namespace)
                urls.append(ray.get(handle.url.remote(), timeout=RAY_CALL_TIMEOUT_S))
        urls = list(dict.fromkeys(u.rstrip("/") for u in urls if u)) or [settings.gateway_url()]
        plan = plan_from_args(args, urls)
        plan.check()
        faults = RayFaults(
            local.namespace,
            [str(r["type"]) for r in plan.robots],
            plan.commands,
            settings,
            random.Random(plan.seed),
        )
        print(
            f"chaos: {plan.duration_s:g}s, {plan.clients} clients, {plan.rate:g} robots/s, "
            f"a fault every {plan.interval_s:g}s ({', '.join(plan.faults) or 'none'}) through "
            f"{', '.join(plan.urls)}",
            flush=True,
        )
        report = asyncio.run(run_chaos(plan, faults, lambda line: print(line, flush=True)))
    finally:
        ray.shutdown()
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
