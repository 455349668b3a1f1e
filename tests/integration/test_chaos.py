"""``robofleet chaos`` against a fresh deployment: replicas, the orchestrator, the cache and
the gateway are killed under a steady workload, and no robot is lost or doubled."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, free_port
from tests.integration.outcomes import assert_single_outcomes

CONFIG = """
health_interval_s = 1.0
health_timeout_s = 2.0
retry_base_s = 0.2
retry_max_s = 1.0

[rate_limits.admin]
rate = 20000
burst = 20000

[[modules]]
name = "echo"
class = "runtime.builtin:Echo"
replicas = 2
max_concurrency = 32

[[modules]]
name = "sleep"
class = "runtime.builtin:Sleep"
replicas = 2
max_concurrency = 8
"""


@dataclass
class Deployment:
    """A ``robofleet up`` of this test alone: gateway URL, Ray address, admin key, data dir."""

    url: str
    ray_address: str
    admin_key: str
    data_dir: Path


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"robofleet up exited early:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"robofleet did not become ready:\n{log_path.read_text()[-4000:]}")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A fresh ``robofleet up`` on SQLite with echo and sleep, two replicas each."""
    config = tmp_path / "robofleet.toml"
    config.write_text(CONFIG)
    data_dir = tmp_path / "data"
    ray_port, dashboard_port, gateway_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "ROBOFLEET_RAY_PORT": str(ray_port),
        "ROBOFLEET_DASHBOARD_PORT": str(dashboard_port),
        "ROBOFLEET_GATEWAY_PORT": str(gateway_port),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("ROBOFLEET_DATABASE_URL", "ROBOFLEET_REDIS_URL", "ROBOFLEET_CONFIG_FILE"):
        env.pop(name, None)
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "cluster.cli", "up", "--config", str(config)]
            + ["--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        _wait_ready(url, process, log_path, timeout_s=180)
        printed = re.search(r"ROBOFLEET_API_KEY=(rf_\S+)", log_path.read_text())
        assert printed, f"robofleet up printed no admin key:\n{log_path.read_text()[-2000:]}"
        yield Deployment(url, f"127.0.0.1:{ray_port}", printed[1], data_dir)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.timeout(300)
def test_chaos_run_loses_and_doubles_no_robot(deployment: Deployment) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("ROBOFLEET_DATABASE_URL", "ROBOFLEET_REDIS_URL", "ROBOFLEET_CONFIG_FILE"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "chaos"]
        + ["--address", deployment.ray_address, "--url", deployment.url]
        + ["--api-key", deployment.admin_key, "--duration", "12", "--interval", "1.5"]
        + ["--clients", "6", "--rate", "20", "--settle", "90"]
        + ["--seed", "13"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    print(out, done.stderr[-3000:])
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert re.search(r"^lost: 0$", out, re.M), out
    assert re.search(r"^doubled: 0$", out, re.M), out
    accepted = int(re.search(r"^accepted: (\d+)$", out, re.M)[1])
    terminal = re.search(r"^terminal: (\d+)", out, re.M)
    assert accepted >= 40 and int(terminal[1]) == accepted, out
    # Every kind of fault struck at least once (each line names what it killed).
    assert re.search(r"replica module:(echo|sleep):\d killed \(SIGKILL", out), out
    assert "orchestrator killed" in out, out
    assert "cache killed" in out, out
    assert re.search(r"gateway:\S+ killed", out), out
    # The store itself, read apart from the command: one outcome per robot.
    assert_single_outcomes(deployment.data_dir / "robofleet.db")
