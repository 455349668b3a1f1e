"""The benchmark harness at a tiny size, so it cannot rot: every scenario yields its figures.

No timing assertions: only that each scenario ran against the session's robofleet and
produced the numbers the table is made of. The job-queue peers (Celery, dramatiq, arq) and
Ray Serve skip locally when the ``bench`` extra is not installed (or Redis is down) and must
run under ``CI=true``.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from bench import peer_worker, serve_peer
from bench.fleet import Target
from bench.runner import QUEUE_PEERS, Options, run_all
from bench.sizes import Sizes
from tests.integration.conftest import service_missing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def bench_headers(fleet) -> dict[str, str]:
    """A key of the harness's own, so it spends its own rate-limit bucket, not the tests'."""
    async with aiohttp.ClientSession(headers=fleet.admin_headers) as http:
        body = {"role": "admin", "name": "bench-smoke"}
        async with http.post(f"{fleet.url}/v1/keys", json=body) as response:
            assert response.status == 201, await response.text()
            key = (await response.json())["key"]
    return {"Authorization": f"Bearer {key}"}


async def run_scenario(fleet, headers, tmp_path, scenario: str) -> dict:
    """Run one scenario of the harness at its tiny size on the session's robofleet."""
    target = Target(fleet.url, str(fleet.db_path), "robofleet", headers)
    options = Options(
        sizes=Sizes.tiny(), scenarios=(scenario,), target=target, results_dir=tmp_path
    )
    results = await run_all(options)
    assert not results["errors"], results["errors"]
    assert (tmp_path / "latest.json").exists() and (tmp_path / "latest.md").exists()
    return results["scenarios"]


async def test_ray_ceiling(fleet, bench_headers, tmp_path):
    ceiling = (await run_scenario(fleet, bench_headers, tmp_path, "ray"))["ray_ceiling"]
    assert ceiling["calls_per_s"] > 0


async def test_submit(fleet, bench_headers, tmp_path):
    rows = (await run_scenario(fleet, bench_headers, tmp_path, "submit"))["submit"]["sqlite"]
    assert [r["connections"] for r in rows] == list(Sizes.tiny().submit_levels)
    for row in rows:
        assert row["accepted_per_s"] > 0
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        # where the CPU went: at least the gateway and the load generator worked
        assert row["cpu_us_per_request"]["gateway"] > 0
        assert row["cpu_us_per_request"]["wrk"] > 0


async def test_open_loop(fleet, bench_headers, tmp_path):
    """Without submit in the run, the maximum comes from a closed-loop run of its own."""
    result = (await run_scenario(fleet, bench_headers, tmp_path, "openloop"))["openloop"]
    entry = result["sqlite"]
    assert entry["max_source"] == "measured" and entry["max_per_s"] > 0
    fractions = list(Sizes.tiny().openloop_fractions)
    for side in ("rates", "floor"):  # robofleet's, then the floor's at the same rates
        rows = entry[side]
        assert [r["fraction"] for r in rows] == fractions
        assert [r["offered_per_s"] for r in rows] == [
            round(f * entry["max_per_s"], 1) for f in fractions
        ]
        for row in rows:
            assert row["errors"] == 0 and row["unanswered"] == 0
            assert row["achieved_per_s"] > 0
            assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"]
    assert "Open loop" in (tmp_path / "latest.md").read_text()


async def test_end_to_end(fleet, bench_headers, tmp_path):
    e2e = (await run_scenario(fleet, bench_headers, tmp_path, "e2e"))["e2e"]["sqlite"]
    assert e2e["succeeded"] == e2e["accepted"] == Sizes.tiny().e2e_robots
    assert e2e["robots_per_s"] > 0
    assert e2e["dispatched"] >= e2e["succeeded"]
    # where the CPU went, per robot: at least the gateway and the load generator worked
    assert e2e["cpu_us_per_robot"]["gateway"] > 0
    assert e2e["cpu_us_per_robot"]["wrk"] > 0


async def test_dispatch(fleet, bench_headers, tmp_path):
    drain = (await run_scenario(fleet, bench_headers, tmp_path, "dispatch"))["dispatch"]["sqlite"]
    assert drain["robots"] == Sizes.tiny().dispatch_robots
    assert drain["robots_per_s"] > 0


async def test_scaling(fleet, bench_headers, tmp_path):
    rows = (await run_scenario(fleet, bench_headers, tmp_path, "scaling"))["scaling"]
    assert [r["replicas"] for r in rows] == list(Sizes.tiny().scaling_replicas)
    assert all(r["succeeded"] == Sizes.tiny().scaling_robots for r in rows)


@pytest.mark.parametrize("name", list(QUEUE_PEERS))
async def test_queue_peer(fleet, bench_headers, tmp_path, name):
    """Celery, dramatiq and arq each run the tiny task count through two worker processes."""
    peer = QUEUE_PEERS[name]
    if not peer_worker.installed(peer.MODULES):
        service_missing(f"{peer.REQUIREMENT} is not installed (make bench installs it)")
    results = await run_scenario(fleet, bench_headers, tmp_path, name)
    if name not in results:
        url = peer_worker.redis_url(peer.URL_ENV, peer.REDIS_DB)
        service_missing(f"Redis for the {name} peer is unreachable at {url}")
    assert results[name]["succeeded"] == results[name]["tasks"] == Sizes.tiny().celery_tasks
    assert results[name]["worker_processes"] == 2
    assert results[name]["tasks_per_s"] > 0 and results[name]["submit_per_s"] > 0


async def test_backlog(fleet, bench_headers, tmp_path):
    backlog = (await run_scenario(fleet, bench_headers, tmp_path, "backlog"))["backlog"]
    assert backlog["full"]["queued"] >= Sizes.tiny().backlog_robots
    assert backlog["rss_at_mb"]["queued"] >= Sizes.tiny().backlog_rss_at
    for window in (backlog["empty"], backlog["full"]):
        assert window["accepted_per_s"] > 0 and window["errors"] == 0
        assert window["orchestrator_us_per_robot"] > 0
    assert backlog["rss_empty_mb"] > 0 and backlog["rss_at_mb"]["rss_mb"] > 0
    assert "### Backlog" in (tmp_path / "latest.md").read_text()


async def test_serve_peer(fleet, bench_headers, tmp_path):
    if not serve_peer.installed():
        service_missing("ray[serve] is not installed (pip install -e '.[bench]')")
    serve = (await run_scenario(fleet, bench_headers, tmp_path, "serve"))["serve"]
    assert [r["connections"] for r in serve["levels"]] == list(Sizes.tiny().serve_levels)
    assert all(r["requests_per_s"] > 0 and r["errors"] == 0 for r in serve["levels"])
    # every setting says where it comes from, and HAProxy took the Python proxy's place
    assert all(s["source"] for s in serve["settings"].values())
    assert serve["settings"]["RAY_SERVE_ENABLE_HA_PROXY"]["value"] == "1"


async def test_shape_floor(fleet, bench_headers, tmp_path):
    shape = (await run_scenario(fleet, bench_headers, tmp_path, "shape"))["shape"]
    assert [r["connections"] for r in shape["levels"]] == list(Sizes.tiny().submit_levels)
    for row in shape["levels"]:
        assert row["requests_per_s"] > 0 and row["errors"] == 0
        assert row["p50_ms"] <= row["p99_ms"]
        assert row["cpu_us_per_request"]["shape host"] > 0
    assert shape["waves"] > 0 and shape["requests_per_wave"] >= 1
    assert "Shape floor" in (tmp_path / "latest.md").read_text()


async def test_http_floor(fleet, bench_headers, tmp_path):
    floor = (await run_scenario(fleet, bench_headers, tmp_path, "floor"))["floor"]
    assert [r["connections"] for r in floor["levels"]] == list(Sizes.tiny().submit_levels)
    assert all(r["requests_per_s"] > 0 and r["errors"] == 0 for r in floor["levels"])
    assert "HTTP floor" in (tmp_path / "latest.md").read_text()


async def test_cache_reads(fleet, bench_headers, tmp_path):
    cache = (await run_scenario(fleet, bench_headers, tmp_path, "cache"))["cache"]
    assert cache["robots"] == Sizes.tiny().cache_robots
    assert [level["clients"] for level in cache["levels"]] == [1, 32]
    for level in cache["levels"]:
        for side in ("cache", "store"):
            assert level[side]["requests"] > 0 and level[side]["errors"] == 0
            assert 0 < level[side]["p50_ms"] <= level[side]["p99_ms"]
        assert level["cache"]["hit_rate"] > 0.5  # finished robots come from gateway memory
    text = (tmp_path / "latest.md").read_text()
    assert "### Cache reads: GET /v1/robots/{id}" in text
    ratios = json.loads((tmp_path / "latest.json").read_text())["ratios"]
    assert ratios["cache_hit_p50_vs_store_p50[sqlite@1]"] > 0
    assert ratios["cache_hit_p50_vs_store_p50[sqlite@32]"] > 0


def test_multinode(tmp_path):
    """The scenario that brings up a Ray cluster of its own, in a process of its own."""
    import json
    import subprocess
    import sys

    from tests.integration.conftest import ROOT

    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.multinode", "--robots", "200", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["one node"]["replica_nodes"] == 1
    assert figures["two nodes"]["replica_nodes"] == 2
