"""One robofleet instance per test session, brought up the way a user does: ``robofleet up``.

Services: PostgreSQL and Redis are real. Locally an unreachable service skips the tests
that need it with the reason; under ``CI=true`` it fails them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from cluster.smtp_sink import SmtpSink

if TYPE_CHECKING:
    from tests.integration.notify_servers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("robofleet-test.toml")
TERMINAL = {"succeeded", "failed", "cancelled", "dead"}
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("ROBOFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Every Redis key this session's robofleet writes starts with this; flushed at the end.
REDIS_PREFIX = f"robofleet-test-{uuid.uuid4().hex[:8]}:"
_ADMIN_KEY_LINE = re.compile(r"ROBOFLEET_API_KEY=(rf_\S+)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_missing(reason: str) -> None:
    """Skip locally, fail in CI, when a service a test needs is not there."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@dataclass
class Fleet:
    """A running robofleet: its gateway URL, data dir, behaviour flags, Ray address and the
    admin key ``robofleet up`` printed."""

    url: str
    data_dir: Path
    flags: Path
    ray_address: str
    process: subprocess.Popen
    log_path: Path
    admin_key: str

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers authenticating as the first admin key."""
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def gateway_port(self) -> int:
        """The port the gateway listens on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def db_path(self) -> Path:
        """The SQLite store file."""
        return self.data_dir / "robofleet.db"

    def flag(self, name: str, on: bool) -> None:
        """Switch a test module's behaviour flag on or off."""
        path = self.flags / name
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    """Wait for what a user waits for: ``robofleet is up`` printed (the modules' replicas
    started) and ``/readyz`` answering 200."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"robofleet up exited early:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200 and "robofleet is up" in log_path.read_text():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"robofleet did not become ready:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def robofleet_up(
    data_dir: Path,
    config: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 240,
) -> Iterator[Fleet]:
    """Run ``robofleet up --config config`` on free ports as a user would; stop it after.

    ``env`` is laid over this process's environment, and a value of ``""`` removes a
    variable (``ROBOFLEET_DATABASE_URL`` empty: the SQLite file of ``data_dir``). Behaviour
    flags live in ``data_dir/flags``.
    """
    flags = data_dir / "flags"
    flags.mkdir(parents=True, exist_ok=True)
    ray_port, dashboard_port, gateway_port = free_port(), free_port(), free_port()
    merged = {
        **os.environ,
        "ROBOFLEET_RAY_PORT": str(ray_port),
        "ROBOFLEET_DASHBOARD_PORT": str(dashboard_port),
        "ROBOFLEET_METRICS_EXPORT_PORT": str(free_port()),
        "ROBOFLEET_GATEWAY_PORT": str(gateway_port),
        "ROBOFLEET_TEST_FLAGS": str(flags),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    merged = {name: value for name, value in merged.items() if value != ""}
    log_path = data_dir / "up.log"
    command = [sys.executable, "-m", "cluster.cli", "up", "--config", str(config)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=merged,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        _wait_ready(url, process, log_path, timeout_s)
        printed = _ADMIN_KEY_LINE.search(log_path.read_text())
        assert printed, f"robofleet up printed no admin key:\n{log_path.read_text()[-2000:]}"
        address = f"127.0.0.1:{ray_port}"
        yield Fleet(url, data_dir, flags, address, process, log_path, printed[1])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            # An up killed here leaves its Ray head running and loading the machine for every
            # later test: `robofleet down` stops that orphaned head, as a user would.
            process.kill()
            process.wait()
            subprocess.run(
                [sys.executable, "-m", "cluster.cli", "down", "--data-dir", str(data_dir)],
                cwd=ROOT, env=merged, capture_output=True, timeout=120,
            )  # fmt: skip
            print(f"robofleet up of {data_dir} did not stop within 90 s of Ctrl-C", file=sys.stderr)


# The session fleet's [notify]: a webhook endpoint and an SMTP server on ports chosen now,
# served by tests/integration/test_notify_flow.py while it runs; short retry schedules.
NOTIFY_HOOK_PORT = free_port()
NOTIFY_SMTP_PORT = free_port()
NOTIFY_HOOK_SECRET = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
NOTIFY_SETTINGS = {
    "webhooks": [
        {
            "name": "billing",
            "url": f"http://127.0.0.1:{NOTIFY_HOOK_PORT}/hook",
            "secrets_env": "ROBOFLEET_TEST_HOOK_SECRET",
        }
    ],
    "smtp": {"host": "127.0.0.1", "port": NOTIFY_SMTP_PORT, "sender": "fleet@example.com"},
    "retry_schedule": {"webhook": [0, 0.2, 0.5, 1, 2], "email": [0, 0.2, 0.5, 1, 2]},
    # The default fallback poll: a delivery within 5 s of its robot proves the nudge works.
    "poll_s": 5.0,
}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    """Start ``robofleet up`` with the test modules on free ports; stop it at the end."""
    import ray

    from cluster import deploy

    env = {
        "ROBOFLEET_REDIS_URL": REDIS_URL,
        "ROBOFLEET_REDIS_PREFIX": REDIS_PREFIX,
        "ROBOFLEET_DATABASE_URL": "",
        # Ray reports actor metrics to its export every 10 s by default; every second here
        # lets tests/integration/test_metrics.py see them while its robots run.
        "RAY_metrics_report_interval_ms": "1000",
        "ROBOFLEET_NOTIFY": json.dumps(NOTIFY_SETTINGS),
        "ROBOFLEET_TEST_HOOK_SECRET": NOTIFY_HOOK_SECRET,
    }
    try:
        with robofleet_up(tmp_path_factory.mktemp("robofleet"), CONFIG, env) as running:
            deploy.connect(running.ray_address, "robofleet")  # loopback: single-machine mode
            try:
                yield running
            finally:
                if ray.is_initialized():
                    ray.shutdown()
    finally:
        _flush_redis_prefix(REDIS_PREFIX)


def _flush_redis_prefix(prefix: str) -> None:
    """Delete this session's Redis keys (and nothing else)."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError:
        pass


@pytest.fixture
async def http(fleet: Fleet):
    """An aiohttp client session authenticated with the fleet's admin key."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60), headers=fleet.admin_headers
    ) as session:
        yield session


async def submit(http: aiohttp.ClientSession, url: str, robot: dict) -> str:
    """Submit a robot and return its id, asserting it was accepted."""
    async with http.post(f"{url}/v1/robots", json=robot) as response:
        body = await response.json()
        assert response.status == 202, body
        return body["id"]


async def get_robot(http: aiohttp.ClientSession, url: str, robot_id: str) -> dict:
    """Fetch one robot."""
    async with http.get(f"{url}/v1/robots/{robot_id}") as response:
        assert response.status == 200
        return await response.json()


async def wait_terminal(
    http: aiohttp.ClientSession, url: str, robot_ids: list[str], timeout_s: float = 60.0
) -> dict[str, dict]:
    """Poll until every robot is terminal; return them by id."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict] = {}
    waiting = list(robot_ids)
    while waiting and time.monotonic() < deadline:
        robots = await asyncio.gather(*(get_robot(http, url, rid) for rid in waiting[:200]))
        for robot in robots:
            if robot["status"] in TERMINAL:
                done[robot["id"]] = robot
        waiting = [rid for rid in waiting if rid not in done]
        if waiting:
            await asyncio.sleep(0.2)
    assert not waiting, f"{len(waiting)} robots not terminal after {timeout_s}s, e.g. {waiting[:3]}"
    return done


async def wait_until(predicate, timeout_s: float = 30.0, interval_s: float = 0.2) -> None:
    """Poll an async predicate until it is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def holds(value: bool) -> bool:
    """``value`` as an async predicate for :func:`wait_until` (a condition on test state)."""
    return value


def cli_out(fleet: Fleet, *argv: str) -> str:
    """What ``robofleet <argv>`` prints against the session fleet with its admin key,
    asserting it exits 0."""
    from cluster import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([*argv, "--url", fleet.url, "--api-key", fleet.admin_key])
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture
async def hook_receiver() -> AsyncIterator[WebhookReceiver]:
    """The session fleet's ``billing`` webhook endpoint (an aiohttp receiver verifying each
    signature with :data:`NOTIFY_HOOK_SECRET`), served for one test."""
    from tests.integration.notify_servers import WebhookReceiver  # it imports this module

    receiver = await WebhookReceiver(NOTIFY_HOOK_SECRET).start(NOTIFY_HOOK_PORT)
    yield receiver
    await receiver.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """The session fleet's SMTP server (aiosmtpd), served for one test."""
    sink = SmtpSink(NOTIFY_SMTP_PORT).start()
    yield sink
    sink.stop()


@pytest.fixture
async def post_rules(
    fleet: Fleet, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[[list[dict]], Awaitable[None]]]:
    """A function that creates rules through ``POST /v1/rules`` (asserting each 201); every
    rule it created is deleted after the test."""
    created: list[str] = []

    async def post(rules: list[dict]) -> None:
        for rule in rules:
            async with http.post(f"{fleet.url}/v1/rules", json=rule) as response:
                assert response.status == 201, await response.text()
                created.append(rule["id"])

    yield post
    for rule_id in created:
        async with http.delete(f"{fleet.url}/v1/rules/{rule_id}"):
            pass
