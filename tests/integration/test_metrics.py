"""A real Prometheus scrapes robofleet: the gateway's ``/metrics`` and Ray's metrics export,
found through the service-discovery file ``robofleet up`` prints; ``promtool check metrics``
passes on both.

Prometheus and promtool come from Debian's ``prometheus`` package (.ci/ensure-services.sh).
The Prometheus runs with a throwaway config and data dir on a free port, scraping every
second, and is asked over its HTTP API, as an operator's dashboards would ask it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Fleet, free_port, service_missing, submit, wait_terminal

PROMETHEUS_WAIT_S = 45.0


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_missing(f"`{name}` is not installed (Debian package prometheus)")
    assert path is not None
    return path


def printed(fleet: Fleet, pattern: str) -> str:
    """The first group of ``pattern`` in what ``robofleet up`` printed."""
    found = re.search(pattern, fleet.log_path.read_text())
    assert found, f"robofleet up did not print {pattern!r}:\n{fleet.log_path.read_text()[-2000:]}"
    return found[1]


def ray_export_url(fleet: Fleet) -> str:
    """Ray's metrics export as ``robofleet up`` printed it."""
    return printed(fleet, r"(http://\S+/metrics) \(Ray's export\)")


def service_discovery_file(fleet: Fleet) -> Path:
    """Ray's Prometheus service-discovery file as ``robofleet up`` printed it."""
    return Path(printed(fleet, r"prometheus file_sd: (\S+)"))


@pytest.fixture
def prometheus(fleet: Fleet, tmp_path: Path) -> Iterator[str]:
    """A Prometheus scraping the fleet's gateway and Ray's export every second; its URL."""
    binary = _binary("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: robofleet
    authorization:
      credentials: {fleet.admin_key}
    static_configs:
      - targets: ["127.0.0.1:{fleet.gateway_port}"]
  - job_name: ray
    file_sd_configs:
      - files: ["{service_discovery_file(fleet)}"]
        refresh_interval: 1s
"""
    )
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, f"prometheus exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"prometheus not ready:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def query(http, prometheus: str, promql: str) -> list[dict]:
    """The result vector of an instant PromQL query."""
    async with http.get(f"{prometheus}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
        assert response.status == 200 and body["status"] == "success", body
        return body["data"]["result"]


async def answered(http, prometheus: str, promql: str) -> list[dict]:
    """Poll a query until its vector is not empty; return it."""
    deadline = time.monotonic() + PROMETHEUS_WAIT_S
    while True:
        result = await query(http, prometheus, promql)
        if result:
            return result
        assert time.monotonic() < deadline, f"Prometheus never answered {promql}"
        await asyncio.sleep(0.5)


async def test_prometheus_sees_queue_depth_and_in_flight_while_robots_run(
    fleet: Fleet, http, prometheus: str
) -> None:
    # 3 sleep replicas with 4 slots each: 12 robots run, the other 8 wait in the queue.
    ids = [
        await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 60}})
        for _ in range(20)
    ]
    try:
        gateway_queue = await answered(
            http, prometheus, 'robofleet_queue_depth{job="robofleet",module="sleep"} > 0'
        )
        ray_queue = await answered(
            http, prometheus, 'ray_robofleet_queue_depth{job="ray",module="sleep"} > 0'
        )
        replica = await answered(
            http,
            prometheus,
            'ray_robofleet_replica_in_flight{job="ray",replica="module:sleep:0"} > 0',
        )
        dispatched = await answered(
            http,
            prometheus,
            'robofleet_robots_in_flight{job="robofleet",replica="module:sleep:0"} > 0',
        )
        running = await answered(
            http, prometheus, 'robofleet_robots_active{job="robofleet",status="running"} > 0'
        )
    finally:
        await asyncio.gather(*(http.post(f"{fleet.url}/v1/robots/{i}/cancel") for i in ids))
    print(
        "Prometheus answered: queue depth of sleep (gateway)",
        gateway_queue[0]["value"][1],
        "(Ray export)",
        ray_queue[0]["value"][1],
        "; in flight on module:sleep:0 (the replica)",
        replica[0]["value"][1],
        "(the orchestrator)",
        dispatched[0]["value"][1],
    )
    assert 0 < float(gateway_queue[0]["value"][1]) <= 8
    assert 0 < float(ray_queue[0]["value"][1]) <= 8
    assert 0 < float(replica[0]["value"][1]) <= 4  # the replica's own count, at most its slots
    assert 0 < float(dispatched[0]["value"][1]) <= 4
    assert float(running[0]["value"][1]) >= 1
    targets = await query(http, prometheus, 'up{job="ray"} == 1')
    assert any(t["metric"]["instance"] in ray_export_url(fleet) for t in targets), targets


RAY_OWN_LABELS = {"Component", "NodeAddress", "SessionName", "Version", "WorkerId"}
"""Labels Ray's export adds to every metric it serves, robofleet's included."""
CAMEL_CASE = "label names should be written in 'snake_case' not 'camelCase'"


def promtool_problems(promtool: str, text: bytes) -> list[str]:
    """What ``promtool check metrics`` reports on a text exposition (empty when clean)."""
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    lines = (checked.stdout + checked.stderr).decode().splitlines()
    assert (checked.returncode == 0) == (not lines), lines
    return lines


def robofleet_families(text: bytes) -> bytes:
    """The families of a Ray export whose names start with ``ray_robofleet_``."""
    kept = []
    for line in text.decode().splitlines():
        name = line.split()[2] if line.startswith("#") else re.split(r"[{ ]", line, maxsplit=1)[0]
        if name.startswith("ray_robofleet_"):
            kept.append(line)
    return ("\n".join(kept) + "\n").encode()


async def test_promtool_finds_both_metric_outputs_clean(fleet: Fleet, http) -> None:
    promtool = _binary("promtool")
    robot = await submit(http, fleet.url, {"type": "echo", "payload": {"n": 1}})
    await wait_terminal(http, fleet.url, [robot])  # so counters and the histogram have series
    async with http.get(f"{fleet.url}/metrics") as response:
        assert response.status == 200
        gateway = await response.read()
    for family in (b"robofleet_robot_outcomes_total{", b"robofleet_robot_duration_seconds_bucket{"):
        assert family in gateway
    assert b"robofleet_queue_depth{" in gateway and b"robofleet_store_up 1.0" in gateway
    assert promtool_problems(promtool, gateway) == []

    ray_text = b""
    deadline = time.monotonic() + PROMETHEUS_WAIT_S
    while b"ray_robofleet_robot_duration_seconds_bucket" not in ray_text:
        assert time.monotonic() < deadline, "Ray's export never carried robofleet's metrics"
        await asyncio.sleep(0.5)
        async with http.get(ray_export_url(fleet)) as response:
            ray_text = await response.read()
    ours = robofleet_families(ray_text)
    for family in (b"ray_robofleet_queue_depth", b"ray_robofleet_replica_in_flight"):
        assert family in ours
    # Ray adds its own CamelCase labels to every metric it exports (its own fail promtool
    # the same way, and more): promtool's only finding on robofleet's families is those.
    problems = promtool_problems(promtool, ours)
    assert {p.split(" ", 1)[1] for p in problems} <= {CAMEL_CASE}, problems
    labels = {
        label
        for family in text_string_to_metric_families(ours.decode())
        for sample in family.samples
        for label in sample.labels
    }
    assert {label for label in labels if label != label.lower()} <= RAY_OWN_LABELS, labels
