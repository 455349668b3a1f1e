"""Run every scenario in one go and report: the entry point of ``python -m bench``.

Order, so that nothing measured shares the CPU with something idle-but-alive for long:
the Ray ceiling on an empty cluster; per store, one robofleet for submit, open loop, end to
end, dispatch and the first scaling point; the other scaling points on their own robofleets;
the job-queue peers (Celery, dramatiq, arq); Ray Serve; the shape floor (two actors of its
own); the HTTP floor (at the submit levels and at the open-loop rates).
All of it runs on one Ray cluster this process starts (``ray.init(address="local")``, so
the GCS port is random and never Redis's 6379) and stops at the end; or, with ``--url``,
against a robofleet that is already running (the smoke test uses its session fleet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import (
    arq_peer,
    backlog,
    celery_peer,
    dispatch,
    dramatiq_peer,
    e2e,
    groups,
    http_floor,
    open_loop,
    peer_worker,
    ray_ceiling,
    report,
    scaling,
    serve_peer,
    shape_floor,
    submit,
    wrk,
)
from bench.fleet import (
    DRAIN_MODULE,
    HOLD_MODULE,
    ManagedFleet,
    Target,
    api_headers,
    echo_module,
    join_or_start_ray,
)
from bench.machine import describe
from bench.profile import Profiler
from bench.sizes import Sizes

log = logging.getLogger("bench")
SCENARIOS = (
    "ray", "submit", "openloop", "e2e", "dispatch", "celery", "dramatiq", "arq", "serve", "shape",
    "floor", "scaling", "backlog", "cache",
)  # fmt: skip
# The job-queue peers: each runs the same no-op tasks on Redis, in the parent of a managed run
QUEUE_PEERS: dict[str, Any] = {"celery": celery_peer, "dramatiq": dramatiq_peer, "arq": arq_peer}
WRK_SCENARIOS = (
    "submit", "openloop", "e2e", "dispatch", "scaling", "serve", "shape", "floor", "backlog"
)  # fmt: skip
STORES = ("sqlite", "postgresql")
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


@dataclass
class Options:
    """What to run, how big, and against which robofleet."""

    sizes: Sizes = field(default_factory=Sizes)
    scenarios: tuple[str, ...] = SCENARIOS
    stores: tuple[str, ...] = STORES
    database_url: str = DEFAULT_DSN
    target: Target | None = None
    ray_address: str | None = None
    profile: bool = False
    label: str = ""
    results_dir: Path = report.RESULTS_DIR
    headers: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)


class Run:
    """The results of one run as they accumulate, with phase timings and failures."""

    def __init__(self, options: Options, write_partial: bool = True) -> None:
        self.options = options
        self.write_partial = write_partial
        self.started = options.started
        self.retries: list[dict[str, Any]] = []
        self.scenarios: dict[str, Any] = {}
        self.phases: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}
        self.skipped: dict[str, str] = {}

    async def step(self, name: str, work: Awaitable[T]) -> T | None:
        """Run one phase; time it; record and log a failure instead of stopping the run."""
        started = time.perf_counter()
        say(f"{name} ...")
        try:
            return await work
        except Exception as exc:
            log.exception("%s failed", name)
            self.errors[name] = f"{type(exc).__name__}: {exc}"[:2000]
            return None
        finally:
            seconds = time.perf_counter() - started
            self.phases.append({"name": name, "seconds": round(seconds, 1)})
            say(f"{name} done in {seconds:.1f}s")
            self.checkpoint()

    def checkpoint(self) -> None:
        """Write the results so far: a run cut short still leaves what it measured."""
        if self.write_partial:
            report.write(self.results(complete=False), self.options.results_dir)

    def wants(self, scenario: str) -> bool:
        """Whether this run includes ``scenario``."""
        return scenario in self.options.scenarios

    def results(self, complete: bool = True) -> dict[str, Any]:
        """Everything as one JSON-able document (``complete`` false while still running)."""
        ratio = report.ratios(self.scenarios)
        return {
            "label": self.options.label,
            "complete": complete,
            "started_at": self.started,
            "duration_s": round(time.time() - self.started, 1),
            "mode": "existing" if self.options.target else "managed",
            "machine": describe(),
            "sizes": self.options.sizes.as_dict(),
            "load_generator": wrk.version(),
            "scenarios": self.scenarios,
            "ratios": ratio,
            "goals": report.goals(ratio, list(self.options.stores)),
            "phases": self.phases,
            "retries": self.retries,
            "errors": self.errors,
            "skipped": self.skipped,
        }


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def ray_driver(options: Options) -> Iterator[str]:
    """Connect this process to Ray: an existing driver, ``--ray-address``, or a new cluster."""
    import ray

    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    for name in ("ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    address = join_or_start_ray(options.ray_address)
    say(f"ray up at {address} in {time.perf_counter() - started:.1f}s")
    try:
        yield address
    finally:
        ray.shutdown()


async def _postgres_reachable(dsn: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{dsn} unreachable ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


def _queue_peer_missing(name: str) -> str | None:
    """Why the job-queue peer ``name`` cannot run (not installed, Redis down), or None."""
    peer = QUEUE_PEERS[name]
    if not peer_worker.installed(peer.MODULES):
        return f"{peer.REQUIREMENT} is not installed (make bench installs it)"
    return peer_worker.redis_missing(peer_worker.redis_url(peer.URL_ENV, peer.REDIS_DB))


async def _on_target(run: Run, target: Target, profile: bool) -> None:
    """Submit, open loop, end to end and dispatch on one robofleet."""
    store = target.store_kind
    if run.wants("submit"):
        rows = await run.step(f"submit[{store}]", submit.run(target, run.options.sizes))
        if rows is not None:
            run.scenarios.setdefault("submit", {})[store] = rows
            for r in rows:
                say(
                    f"  {r['connections']:>3} conns: {r['accepted_per_s']:,.0f}/s "
                    f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms errors {r['errors']}"
                )
    if run.wants("openloop"):
        submitted = (run.scenarios.get("submit") or {}).get(store)
        result = await run.step(
            f"openloop[{store}]", open_loop.run(target, run.options.sizes, submitted)
        )
        if result is not None:
            run.scenarios.setdefault("openloop", {})[store] = result
            say(f"  max {result['max_per_s']:,.0f}/s (from {result['max_source']})")
            _say_open_loop(result["rates"])
    if run.wants("e2e"):
        profiler = None
        if profile:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(run.started))
            profiler = Profiler(run.options.results_dir / "profiles" / f"{stamp}-{store}")
        result = await run.step(
            f"e2e[{store}]", e2e.run(target, run.options.sizes, None, "echo", profiler)
        )
        if result is not None:
            run.scenarios.setdefault("e2e", {})[store] = result
            say(
                f"  {result['robots_per_s']:,.0f} robots/s, "
                f"submit {result['submit_per_s']:,.0f}/s, "
                f"dispatch {result.get('dispatch_per_s', 0):,.0f}/s"
            )
    if run.wants("dispatch"):
        result = await run.step(f"dispatch[{store}]", dispatch.run(target, run.options.sizes))
        if result is not None:
            run.scenarios.setdefault("dispatch", {})[store] = result
            say(f"  {result['robots']:,} robots dispatched at {result['robots_per_s']:,.0f}/s")


async def _store_group(run: Run, store: str, ray_address: str, scale_one: bool) -> None:
    """One robofleet on ``store``: submit, end to end, dispatch and the first scaling point."""
    options = run.options
    database_url = None
    if store == "postgresql":
        reason = await _postgres_reachable(options.database_url)
        if reason:
            run.skipped["postgresql"] = reason
            return
        database_url = options.database_url
    modules = [echo_module(1), HOLD_MODULE, DRAIN_MODULE]
    fleet = ManagedFleet(store, ray_address, modules, database_url, options.headers)
    async with fleet as target:
        run.phases.append({"name": f"up[{store}]", "seconds": round(fleet.up_seconds, 1)})
        await _on_target(run, target, options.profile and store == options.stores[0])
        if scale_one:
            rows = await run.step(
                "scaling[1]", scaling.run(_only(options.sizes, 1), _this_fleet(target))
            )
            if rows is not None:
                run.scenarios["scaling"] = rows
    run.phases.append({"name": f"down[{store}]", "seconds": round(fleet.down_seconds, 1)})


async def _run_group(run: Run, group: str, ray_address: str) -> None:
    """The work of one group of a managed run, in this process, on this Ray cluster."""
    options = run.options
    kind, _, arg = group.partition(":")
    if kind == "ray":
        result = await run.step("ray_ceiling", ray_ceiling.run(options.sizes))
        if result is not None:
            run.scenarios["ray_ceiling"] = result
            say(f"  {result['calls_per_s']:,.0f} calls/s")
    elif kind == "store":
        scale_one = (
            run.wants("scaling")
            and 1 in options.sizes.scaling_replicas
            and arg == options.stores[0]
        )
        await _store_group(run, arg, ray_address, scale_one)
    elif kind == "scaling":
        replicas = int(arg)
        rows = await run.step(
            f"scaling[{replicas}]",
            scaling.run(_only(options.sizes, replicas), _new_fleet(options, ray_address)),
        )
        if rows is not None:
            run.scenarios["scaling"] = rows
    elif kind == "serve":
        await _serve(run)
    elif kind == "shape":
        await _shape(run)
    elif kind == "backlog":
        await _backlog_group(run, options.stores[0], ray_address)
    elif kind == "cache":
        from bench import cache_reads  # not at the top: `python -m bench.cache_reads` runs it

        work = cache_reads.run_managed(options.sizes, ray_address, options.headers)
        _cache_figures(run, await run.step("cache", work))
    else:
        raise ValueError(f"unknown group {group!r}")


async def _backlog_group(run: Run, store: str, ray_address: str) -> None:
    """The backlog scenario on a robofleet of its own: its queue starts empty, and the
    robots it leaves queued slow down no other scenario."""
    database_url = None
    if store == "postgresql":
        reason = await _postgres_reachable(run.options.database_url)
        if reason:
            run.skipped["backlog"] = reason
            return
        database_url = run.options.database_url
    fleet = ManagedFleet(
        f"{store}-backlog", ray_address, [HOLD_MODULE], database_url, run.options.headers
    )
    async with fleet as target:
        run.phases.append({"name": "up[backlog]", "seconds": round(fleet.up_seconds, 1)})
        await _backlog(run, target)
    run.phases.append({"name": "down[backlog]", "seconds": round(fleet.down_seconds, 1)})


async def _backlog(run: Run, target: Target) -> None:
    profile_dir = None
    if run.options.profile:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(run.started))
        profile_dir = run.options.results_dir / "profiles" / f"{stamp}-backlog"
    result = await run.step("backlog", backlog.run(target, run.options.sizes, profile_dir))
    if result is not None:
        run.scenarios["backlog"] = {"store": target.store_kind, **result}
        for name in ("empty", "full"):
            point = result[name]
            say(
                f"  {point['queued']:>9,} queued: {point['accepted_per_s']:,.0f}/s, "
                f"orchestrator {point['orchestrator_us_per_robot'] or 0:.0f} µs/robot"
            )
        at = result["rss_at_mb"]
        say(f"  orchestrator RSS {result['rss_empty_mb']:.0f} MiB empty, "
            f"{at['rss_mb']:.0f} MiB at {at['queued']:,} queued")  # fmt: skip


def _cache_figures(run: Run, result: dict[str, Any] | None) -> None:
    if result is None:
        return
    run.scenarios["cache"] = result
    for level in result["levels"]:
        cache, store = level["cache"], level["store"]
        say(
            f"  {level['clients']:>2} clients: p50 {cache['p50_ms']:.2f} ms cached "
            f"({cache['hit_rate']:.0%} hits), {store['p50_ms']:.2f} ms store only"
        )


async def _serve(run: Run) -> None:
    if not serve_peer.installed():
        run.skipped["serve"] = "ray[serve] is not installed (pip install -e '.[bench]')"
        return
    result = await run.step("serve", serve_peer.run(run.options.sizes))
    if result is not None:
        run.scenarios["serve"] = result


async def _shape(run: Run) -> None:
    result = await run.step("shape", shape_floor.run(run.options.sizes))
    if result is not None:
        run.scenarios["shape"] = result
        _say_levels(result["levels"])
        say(f"  {result['waves']:,} Ray calls, {result['requests_per_wave']} requests per call")


async def _queue_peer(run: Run, name: str) -> None:
    """Run the job-queue peer ``name`` (a key of :data:`QUEUE_PEERS`), or record why not."""
    reason = _queue_peer_missing(name)
    if reason:
        run.skipped[name] = reason
        return
    result = await run.step(name, QUEUE_PEERS[name].run(run.options.sizes))
    if result is not None:
        run.scenarios[name] = result
        say(f"  {result['tasks_per_s']:,.0f} tasks/s")


async def _floor(run: Run) -> None:
    """The HTTP floor: at the submit levels, and at each store's open-loop rates."""
    if run.wants("floor"):
        result = await run.step("floor", http_floor.run(run.options.sizes))
        if result is not None:
            run.scenarios["floor"] = result
            _say_levels(result["levels"])
    measured = run.scenarios.get("openloop") or {}
    rates = {
        store: [(r["fraction"], r["offered_per_s"]) for r in entry["rates"]]
        for store, entry in measured.items()
    }
    if run.wants("openloop") and rates:
        rows = await run.step("openloop[floor]", http_floor.open_loop(rates, run.options.sizes))
        for store, floor_rows in (rows or {}).items():
            measured[store]["floor"] = floor_rows
            say(f"  floor at {store}'s rates:")
            _say_open_loop(floor_rows)


def _say_levels(levels: list[dict[str, Any]]) -> None:
    """One line per connection level of a floor: requests/s and p99."""
    for r in levels:
        rate, p99 = r["requests_per_s"], r["p99_ms"]
        say(f"  {r['connections']:>3} conns: {rate:,.0f}/s p99 {p99:.1f} ms")


def _say_open_loop(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        say(
            f"  {r['fraction']:.0%} {r['offered_per_s']:,.0f}/s offered, "
            f"{r['achieved_per_s']:,.0f}/s achieved: p50 {r['p50_ms']:.1f} ms "
            f"p99 {r['p99_ms']:.1f} ms p99.9 {r['p999_ms']:.1f} ms errors {r['errors']}"
        )


async def _managed(run: Run) -> None:
    """Every group in its own process and Ray cluster, each retried once if it dies."""
    options = run.options
    plan = groups.plan(options.scenarios, options.stores, options.sizes.scaling_replicas)
    for group in plan:
        if group in QUEUE_PEERS:
            await _queue_peer(run, group)
            continue
        if group == "floor":
            await _floor(run)
            continue
        for attempt in range(1, groups.ATTEMPTS + 1):
            say(f"group {group} (attempt {attempt}) ...")
            started = time.perf_counter()
            code, output = await groups.spawn(group, options_to_json(options), options.database_url)
            seconds = round(time.perf_counter() - started, 1)
            failed = code != 0 or output is None or bool(output.get("errors"))
            if failed and attempt < groups.ATTEMPTS:
                why = (output or {}).get("errors") or f"its process exited with {code}"
                say(f"group {group} failed ({why}); once more on a fresh Ray cluster")
                run.retries.append({"group": group, "exit_code": code, "why": str(why)[:500]})
                continue
            run.phases.append({"name": f"group[{group}]", "seconds": seconds})
            if output is None:
                run.errors[group] = f"its process exited with {code} and wrote no results"
                break
            groups.merge(run.scenarios, output["scenarios"])
            run.phases += output["phases"]
            run.errors.update(output["errors"])
            run.skipped.update(output["skipped"])
            break
        run.checkpoint()


def _only(sizes: Sizes, replicas: int) -> Sizes:
    import dataclasses

    return dataclasses.replace(sizes, scaling_replicas=(replicas,))


def _this_fleet(target: Target) -> scaling.FleetFor:
    @asynccontextmanager
    async def fleet_for(replicas: int) -> AsyncIterator[tuple[Target, str]]:
        yield target, "echo"

    return fleet_for


def _new_fleet(options: Options, ray_address: str) -> scaling.FleetFor:
    @asynccontextmanager
    async def fleet_for(replicas: int) -> AsyncIterator[tuple[Target, str]]:
        async with ManagedFleet(
            f"sqlite-r{replicas}", ray_address, [echo_module(replicas)], None, options.headers
        ) as target:
            yield target, "echo"

    return fleet_for


async def run_all(options: Options) -> dict[str, Any]:
    """Run the selected scenarios and return the results document (also written to disk)."""
    run = Run(options)
    say(f"scenarios {', '.join(options.scenarios)}; sizes {options.sizes.as_dict()}")
    if options.target is None:
        await _managed(run)
    else:
        await _existing(run, options.target)
    results = run.results()
    path = report.write(results, options.results_dir)
    say(f"results in {path}")
    return results


async def _existing(run: Run, target: Target) -> None:
    """Every scenario in this process against a robofleet that is already running."""
    options = run.options
    with ray_driver(options):
        if run.wants("ray"):
            result = await run.step("ray_ceiling", ray_ceiling.run(options.sizes))
            if result is not None:
                run.scenarios["ray_ceiling"] = result
        await _on_target(run, target, options.profile)
        if run.wants("scaling"):
            work = scaling.run(options.sizes, scaling.registered_modules(target))
            rows = await run.step("scaling", work)
            if rows is not None:
                run.scenarios["scaling"] = rows
        for name in QUEUE_PEERS:
            if run.wants(name):
                await _queue_peer(run, name)
        if run.wants("serve"):
            await _serve(run)
        if run.wants("shape"):
            await _shape(run)
        if run.wants("floor") or run.wants("openloop"):
            await _floor(run)
        if run.wants("backlog"):
            await _backlog(run, target)
        if run.wants("cache"):
            await _cache_on(run, target)


async def _cache_on(run: Run, target: Target) -> None:
    """The cache scenario against a running robofleet: its SQLite file's directory is its
    data directory; with PostgreSQL the store-only gateway gets a scratch one."""
    import tempfile

    from bench import cache_reads

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as scratch:
        sqlite = target.store_kind == "sqlite"
        data_dir = Path(target.store).parent if sqlite else Path(scratch)
        work = cache_reads.run(target, run.options.sizes, data_dir)
        _cache_figures(run, await run.step("cache", work))


async def _group_main(group: str, options_path: Path, out_path: Path) -> int:
    """A child of a managed run: one group on a Ray cluster of its own."""
    options = options_from_json(json.loads(options_path.read_text()))
    run = Run(options, write_partial=False)
    started = time.perf_counter()
    with ray_driver(options) as ray_address:
        run.phases.append({"name": "ray_start", "seconds": round(time.perf_counter() - started, 1)})
        await _run_group(run, group, ray_address)
    output = {
        "scenarios": run.scenarios,
        "phases": run.phases,
        "errors": run.errors,
        "skipped": run.skipped,
    }
    out_path.write_text(json.dumps(output, default=str))
    return 1 if run.errors else 0


def options_to_json(options: Options) -> dict[str, Any]:
    """Options as JSON for a group's child process (never with a target: children manage)."""
    return {
        "sizes": options.sizes.as_dict(),
        "scenarios": list(options.scenarios),
        "stores": list(options.stores),
        "database_url": options.database_url,
        "profile": options.profile,
        "label": options.label,
        "results_dir": str(options.results_dir),
        "headers": options.headers,
        "started": options.started,
    }


def options_from_json(data: dict[str, Any]) -> Options:
    """The inverse of :func:`options_to_json`."""
    sizes = {k: tuple(v) if isinstance(v, list) else v for k, v in data["sizes"].items()}
    return Options(
        sizes=Sizes(**sizes),
        scenarios=tuple(data["scenarios"]),
        stores=tuple(data["stores"]),
        database_url=data["database_url"],
        profile=data["profile"],
        label=data["label"],
        results_dir=Path(data["results_dir"]),
        headers=data["headers"],
        started=data["started"],
    )


def build_parser() -> argparse.ArgumentParser:
    """Command line of ``python -m bench`` and ``robofleet bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="robofleet benchmarks against Celery, dramatiq, arq and Ray Serve",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE", 1)),
        help="multiply robot counts and durations (env BENCH_SCALE)",
    )
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--skip", help="comma-separated scenarios to leave out")
    parser.add_argument(
        "--stores",
        default=os.environ.get("BENCH_STORES", ",".join(STORES)),
        help="comma-separated stores for submit/e2e (env BENCH_STORES)",
    )
    parser.add_argument("--database-url", help="PostgreSQL DSN; robofleet gets a fresh schema")
    parser.add_argument("--e2e-robots", type=int, help="robots in the end-to-end run")
    parser.add_argument(
        "--celery-tasks", type=int, help="tasks in each job-queue peer run (Celery, dramatiq, arq)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        default=os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
        help="py-spy the orchestrator, gateway and replica during e2e",
    )
    parser.add_argument(
        "--label",
        default=os.environ.get("BENCH_LABEL", ""),
        help="name in the results file, e.g. before/after",
    )
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument(
        "--api-key",
        help="gateway API key (default: BENCH_API_KEY, then ROBOFLEET_API_KEY)",
    )
    parser.add_argument("--url", help="benchmark this running robofleet instead of starting one")
    parser.add_argument("--store", help="with --url: its SQLite file or PostgreSQL DSN")
    parser.add_argument("--ray-address", help="with --url: its Ray cluster (HOST:PORT)")
    parser.add_argument("--namespace", default="robofleet", help="with --url: its Ray namespace")
    # How a managed run starts each group of scenarios in a process of its own.
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--group-options", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--group-out", type=Path, help=argparse.SUPPRESS)
    return parser


def options_from(args: argparse.Namespace) -> Options:
    """Options from parsed command-line arguments."""
    import dataclasses

    if not math.isfinite(args.scale) or args.scale <= 0:
        raise SystemExit(f"--scale (BENCH_SCALE) must be a number above 0, not {args.scale}")
    stores = tuple(s for s in args.stores.split(",") if s)
    if not stores or set(stores) - set(STORES):
        raise SystemExit(f"unknown stores {args.stores!r}; choose from {STORES}")
    sizes = Sizes.tiny() if args.tiny else Sizes().scaled(args.scale)
    if args.e2e_robots:
        sizes = dataclasses.replace(sizes, e2e_robots=args.e2e_robots)
    if args.celery_tasks:
        sizes = dataclasses.replace(sizes, celery_tasks=args.celery_tasks)
    scenarios = tuple(s for s in (args.only.split(",") if args.only else SCENARIOS) if s)
    skip = set(args.skip.split(",")) if args.skip else set()
    unknown = (set(scenarios) | skip) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    headers = api_headers(args.api_key)
    target = None
    if args.url:
        if not args.store:
            raise SystemExit("--url needs --store (the SQLite file or PostgreSQL DSN it uses)")
        target = Target(args.url.rstrip("/"), args.store, args.namespace, headers)
    database_url = (
        args.database_url
        or os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("ROBOFLEET_DATABASE_URL")
        or os.environ.get("ROBOFLEET_TEST_DATABASE_URL")
        or DEFAULT_DSN
    )
    return Options(
        sizes=sizes,
        scenarios=tuple(s for s in scenarios if s not in skip),
        stores=stores,
        database_url=database_url,
        target=target,
        ray_address=args.ray_address,
        profile=args.profile,
        label=args.label,
        results_dir=args.results_dir,
        headers=headers,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the markdown table; non-zero if a scenario failed."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.group:
        return asyncio.run(_group_main(args.group, args.group_options, args.group_out))
    options = options_from(args)
    if set(WRK_SCENARIOS) & set(options.scenarios) and wrk.missing():
        raise SystemExit(wrk.missing())
    results = asyncio.run(run_all(options))
    print(report.markdown(results))
    return 1 if results["errors"] else 0
