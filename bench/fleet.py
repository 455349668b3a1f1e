"""The robofleet a benchmark drives: one the harness brings up, or one already running.

The harness starts robofleet the way a user does, ``python -m cluster.cli up``, joining the
harness's own Ray cluster with ``--address`` so that stopping robofleet (SIGINT) never runs
``ray stop`` on a machine other people share.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.probe import StoreProbe, probe_for

ROOT = Path(__file__).resolve().parents[1]
HOLD_TYPE = "bench-hold"
HOLD_MODULE = {
    "name": "bench-hold",
    "class": "bench.noop:NoOp",
    "types": [HOLD_TYPE],
    "replicas": 0,
    "max_concurrency": 1,
}
# The dispatch scenario queues its robots behind this module, then scales it to 2 replicas.
# (``echo``'s class handles only type ``echo``; the no-op takes whatever types it is given.)
DRAIN_TYPE = "bench-drain"
DRAIN_MODULE = {
    "name": "bench-drain",
    "class": "bench.noop:NoOp",
    "types": [DRAIN_TYPE],
    "replicas": 0,
    "max_concurrency": 64,
}


# What `robofleet up` prints when it makes the first admin key of an empty store.
PRINTED_KEY = re.compile(r"ROBOFLEET_API_KEY=(\S+)")
# The gateway's per-key token buckets would cap a benchmark at a few hundred requests a
# second; the bench config lifts them so the limiter still runs but never refuses.
UNLIMITED = {"rate": 1_000_000.0, "burst": 1_000_000.0}
BENCH_SETTINGS: dict[str, Any] = {
    "rate_limits": {"admin": UNLIMITED, "operator": UNLIMITED, "viewer": UNLIMITED},
    # The submit levels pile bench-hold robots up in one queue; never refuse them for that.
    "max_queued_per_type": 2_000_000,
}


def echo_module(replicas: int) -> dict[str, Any]:
    """The built-in no-op ``echo`` module with ``replicas`` replicas of 64 slots."""
    return {
        "name": "echo",
        "class": "runtime.builtin:Echo",
        "types": ["echo"],
        "replicas": replicas,
        "max_concurrency": 64,
    }


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_headers(api_key: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header for the gateway, if an API key is configured.

    The key comes from the argument, else ``BENCH_API_KEY``, else ``ROBOFLEET_API_KEY``.
    """
    key = api_key or os.environ.get("BENCH_API_KEY") or os.environ.get("ROBOFLEET_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def pythonpath() -> str:
    """``PYTHONPATH`` with the repository first, so Ray workers can import ``bench``."""
    paths = [str(ROOT), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return os.pathsep.join(p for p in dict.fromkeys(paths) if p)


def join_or_start_ray(address: str | None, namespace: str = "bench") -> str:
    """Make this process the harness's Ray driver; return the cluster's GCS address.

    With ``address`` (``HOST:PORT``), join that cluster through ``cluster.deploy.connect``:
    the head ``robofleet up`` starts listens on loopback, and a plain ``ray.init`` swaps
    127.0.0.1 for the host's address and then waits for it forever. Without, start a local
    cluster (its GCS on a free port) with token auth off, as ``robofleet up`` runs: a local
    ``ray.init`` otherwise turns token auth on and leaves a token in ``~/.ray`` that every
    later ``ray start`` on the machine then requires. Child processes inherit both settings.
    """
    import logging

    import ray

    from cluster.deploy import RAY_AUTH_MODE, connect

    os.environ["PYTHONPATH"] = pythonpath()  # Ray workers must import bench.*
    os.environ.setdefault("RAY_AUTH_MODE", RAY_AUTH_MODE)
    if address:
        connect(address, namespace)
    else:
        ray.init(
            address="local",
            include_dashboard=False,
            namespace=namespace,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    return str(ray.get_runtime_context().gcs_address)


@dataclass
class Target:
    """A running robofleet: gateway URL, store locator, Ray namespace and request headers."""

    url: str
    store: str
    namespace: str = "robofleet"
    headers: dict[str, str] = field(default_factory=dict)
    label: str = "sqlite"

    @property
    def store_kind(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return "postgresql" if self.store.startswith(("postgresql://", "postgres://")) else "sqlite"

    def probe(self) -> StoreProbe:
        """A fresh store probe for this robofleet."""
        return probe_for(self.store)

    @property
    def submit_url(self) -> str:
        """Where robots are posted."""
        return f"{self.url}/v1/robots"


async def modules(target: Target) -> list[dict[str, Any]]:
    """``GET /v1/modules`` (waiting out a ``429`` from the gateway's rate limit)."""
    async with aiohttp.ClientSession(headers=target.headers) as http:
        while True:
            async with http.get(f"{target.url}/v1/modules") as response:
                if response.status == 429:
                    await asyncio.sleep(float(response.headers.get("Retry-After", 1)))
                    continue
                response.raise_for_status()
                return (await response.json())["modules"]


async def wait_replicas(target: Target, name: str, replicas: int, timeout_s: float = 120) -> None:
    """Wait until module ``name`` has ``replicas`` live replicas."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {m["name"]: m for m in await modules(target)}
        module = found.get(name)
        if module is not None:
            alive = sum(1 for r in module["replicas"] if r.get("alive"))
            if alive >= replicas:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"module {name} has not {replicas} live replicas: {module}")
        await asyncio.sleep(0.25)


async def ensure_module(target: Target, spec: dict[str, Any], timeout_s: float = 120) -> None:
    """Register a module at run time unless it exists, then wait for its replicas."""
    async with aiohttp.ClientSession(headers=target.headers) as http:
        async with http.post(f"{target.url}/v1/modules", json=spec) as response:
            if response.status not in (201, 409):
                raise RuntimeError(f"registering {spec['name']}: {await response.text()}")
    await wait_replicas(target, spec["name"], spec["replicas"], timeout_s)


def orchestrator_stats(namespace: str) -> dict[str, Any]:
    """``stats()`` of the orchestrator actor (queued, in_memory, dispatched, commits)."""
    import ray

    from actors.ray.common import orchestrator_handle

    stats = ray.get(orchestrator_handle(namespace).stats.remote(), timeout=30)
    return asdict(stats)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def config_toml(modules: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> str:
    """A robofleet TOML config with these settings and ``[[modules]]``."""
    lines = ["# written by bench/fleet.py for one benchmark run"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in (settings or {}).items()]
    for module in modules:
        lines += ["", "[[modules]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in module.items()]
    return "\n".join(lines) + "\n"


class ManagedFleet:
    """``robofleet up`` on free ports, joined to the harness's Ray cluster; stopped by SIGINT.

    With a PostgreSQL DSN the store lives in a fresh schema, dropped again at the end.
    """

    def __init__(
        self,
        label: str,
        ray_address: str,
        modules: list[dict[str, Any]],
        database_url: str | None = None,
        headers: dict[str, str] | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.label = label
        self.ray_address = ray_address
        self.modules = modules
        self.database_url = database_url
        self.headers = headers or {}
        base = work_dir or os.environ.get("BENCH_WORK_DIR") or None
        self.work_dir = Path(tempfile.mkdtemp(prefix=f"robofleet-bench-{label}-", dir=base))
        self.namespace = f"robofleet-bench-{label}-{uuid.uuid4().hex[:6]}"
        self.schema: str | None = None
        self.process: subprocess.Popen | None = None
        self.log_path = self.work_dir / "up.log"
        self.target: Target | None = None
        self.up_seconds = 0.0
        self.down_seconds = 0.0

    async def __aenter__(self) -> Target:
        started = time.perf_counter()
        try:
            self.target = await self._start()
        except BaseException:
            await self._stop()
            raise
        self.up_seconds = time.perf_counter() - started
        return self.target

    async def __aexit__(self, *exc: object) -> None:
        started = time.perf_counter()
        await self._stop()
        self.down_seconds = time.perf_counter() - started

    async def _start(self) -> Target:
        port = free_port()
        env = {
            **os.environ,
            "ROBOFLEET_GATEWAY_PORT": str(port),
            "ROBOFLEET_NAMESPACE": self.namespace,
            "PYTHONPATH": pythonpath(),
        }
        env.pop("ROBOFLEET_CONFIG_FILE", None)
        store = str(self.work_dir / "data" / "robofleet.db")
        if self.database_url:
            self.schema = f"robofleet_bench_{uuid.uuid4().hex[:10]}"
            await _pg_execute(self.database_url, f'CREATE SCHEMA "{self.schema}"')
            if os.environ.get("BENCH_SCHEMA_LOG"):  # so a parent can drop it if we die
                with open(os.environ["BENCH_SCHEMA_LOG"], "a") as log:
                    log.write(self.schema + "\n")
            sep = "&" if "?" in self.database_url else "?"
            store = f"{self.database_url}{sep}search_path={self.schema}"
            env["ROBOFLEET_DATABASE_URL"] = store
        else:
            env.pop("ROBOFLEET_DATABASE_URL", None)
        config = self.work_dir / "robofleet.toml"
        config.write_text(config_toml(self.modules, BENCH_SETTINGS))
        key = await seed_admin_key(store, self.work_dir / "data")
        if key is not None:
            self.headers = {**self.headers, **api_headers(key)}
        command = [
            sys.executable, "-m", "cluster.cli", "up",
            "--config", str(config),
            "--data-dir", str(self.work_dir / "data"),
            "--address", self.ray_address,
        ]  # fmt: skip
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        target = Target(f"http://127.0.0.1:{port}", store, self.namespace, self.headers, self.label)
        await self._wait_ready(target)
        if not target.headers:
            printed = PRINTED_KEY.search(self.log_tail(100_000))
            if printed:
                target.headers = self.headers = api_headers(printed[1])
        for module in self.modules:
            await wait_replicas(target, module["name"], module["replicas"])
        return target

    async def _wait_ready(self, target: Target, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(headers=self.headers) as http:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"robofleet up exited early:\n{self.log_tail()}")
                try:
                    async with http.get(f"{target.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError(f"robofleet did not become ready:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of ``robofleet up``'s output."""
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    async def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.process.wait, 90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        self._kill_leftover_actors()
        if self.schema and self.database_url:
            await _pg_execute(self.database_url, f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _kill_leftover_actors(self) -> None:
        import ray

        if not ray.is_initialized():
            return
        for actor in ray.util.list_named_actors(all_namespaces=True):
            if actor.get("namespace") == self.namespace:
                try:
                    ray.kill(ray.get_actor(actor["name"], namespace=self.namespace))
                except ValueError:
                    continue


async def seed_admin_key(store: str, data_dir: Path) -> str | None:
    """Put an admin API key into a fresh store before robofleet starts; return the key.

    So the harness needs no key from the outside and ``robofleet up`` finds a key already
    there (it only makes the first admin key into an empty key table). Returns None when
    this checkout of robofleet has no API keys yet.
    """
    try:
        from runtime.keys import Role, new_api_key
    except ImportError:
        return None
    from runtime.store import SQLITE_FILE_NAME, PostgresStore, SqliteStore

    if store.startswith(("postgresql://", "postgres://")):
        backend: Any = PostgresStore(store)
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        backend = SqliteStore(data_dir / SQLITE_FILE_NAME)
    if not hasattr(backend, "create_api_key"):
        return None
    secret, record = new_api_key(Role.ADMIN, name="bench")
    await backend.open()
    try:
        await backend.create_api_key(record)
    finally:
        await backend.close()
    return secret


async def _pg_execute(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
