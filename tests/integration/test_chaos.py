"""``robofleet chaos`` against a fresh deployment: replicas, the orchestrator, the cache and
the gateway are killed under a steady workload, and no robot is lost or doubled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Fleet, robofleet_up
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


NO_SERVICES = {"ROBOFLEET_DATABASE_URL": "", "ROBOFLEET_REDIS_URL": "", "ROBOFLEET_CONFIG_FILE": ""}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Fleet]:
    """A fresh ``robofleet up`` on SQLite with echo and sleep, two replicas each."""
    config = tmp_path / "robofleet.toml"
    config.write_text(CONFIG)
    with robofleet_up(tmp_path / "data", config, NO_SERVICES, timeout_s=180) as fleet:
        yield fleet


@pytest.mark.timeout(300)
def test_chaos_run_loses_and_doubles_no_robot(deployment: Fleet) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {name: value for name, value in env.items() if name not in NO_SERVICES}
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
    assert_single_outcomes(deployment.db_path)
