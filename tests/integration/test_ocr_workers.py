"""The OCR pool through the gateway: documents uploaded, robots run on ``ocr:<n>`` workers.

The session fleet runs two OCR workers (tests/integration/robofleet-test.toml). Needs the
``tesseract`` binary with English data and DejaVu fonts; locally a missing piece skips,
under CI=true it fails.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import time

import aiohttp
import pytest
import ray

import cluster.invoice_samples as samples
from runtime.ocr import TesseractEngine
from runtime.ocr.invoice import FIELDS
from tests.integration.conftest import (
    get_robot,
    service_missing,
    submit,
    wait_terminal,
    wait_until,
)

pytestmark = pytest.mark.integration

WORKERS = ("ocr:0", "ocr:1")
INVOICES = 40
ACCURACY_GOAL = 0.95
WORKER_MAX_BYTES = 2_000_000  # options.max_bytes of the test config's ocr module
GATEWAY_MAX_BYTES = 20 * 1024 * 1024  # the default max_document_bytes
_SAMPLE = re.compile(r"^(robofleet_ocr_\w+)\{(.*)\} (\S+)$")


@pytest.fixture(scope="module", autouse=True)
def _tesseract_and_fonts() -> None:
    tesseract = TesseractEngine()
    if not tesseract.available() or "eng" not in tesseract.languages():
        service_missing("tesseract with English data is not installed (tesseract-ocr-eng)")
    if not samples.fonts_available():
        service_missing("DejaVu fonts are missing (fonts-dejavu-core)")


async def _workers_up(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(f"{url}/v1/modules") as response:
        modules = {m["name"]: m for m in (await response.json())["modules"]}
    ocr = modules.get("ocr")
    return ocr is not None and all(r["alive"] for r in ocr["replicas"])


@pytest.fixture
async def pool(fleet, http) -> str:
    """The gateway URL, once both OCR workers are up."""
    await wait_until(lambda: _workers_up(http, fleet.url), timeout_s=90)
    return fleet.url


async def upload(http: aiohttp.ClientSession, url: str, data: bytes) -> dict:
    """POST a document as the raw body; return the answer, asserting it was stored."""
    async with http.post(f"{url}/v1/documents", data=data) as response:
        body = await response.json()
        assert response.status in (200, 201), body
        return body


async def ocr_metrics(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, str, str], float]:
    """``robofleet_ocr_*`` samples from /metrics: (name, replica, other labels) -> value."""
    async with http.get(f"{url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            replica = labels.pop("replica")
            labels.pop("module", None)
            other = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            found[(match.group(1), replica, other)] = float(match.group(3))
    return found


def engine_calls(metrics: dict[tuple[str, str, str], float]) -> dict[str, float]:
    """Engine calls per worker, every engine and outcome summed."""
    calls: dict[str, float] = {}
    for (name, replica, _), value in metrics.items():
        if name == "robofleet_ocr_engine_calls_total":
            calls[replica] = calls.get(replica, 0.0) + value
    return calls


def dedup_hits(metrics: dict[tuple[str, str, str], float]) -> float:
    """Dedup hits of every worker, local and shared."""
    return sum(
        value
        for (name, _, labels), value in metrics.items()
        if name == "robofleet_ocr_dedup_total" and labels in ("result=hit", "result=shared_hit")
    )


async def metrics_of_both(http: aiohttp.ClientSession, url: str) -> dict:
    """/metrics once both workers answered the scrape (one being replaced may miss it)."""
    latest: dict = {}

    async def both() -> bool:
        latest.update(await ocr_metrics(http, url))
        return set(WORKERS) <= {replica for (_, replica, _) in latest}

    await wait_until(both, timeout_s=30)
    return latest


async def _pid(name: str) -> int:
    return (await ray.get_actor(name, namespace="robofleet").ping.remote()).pid


@pytest.mark.timeout(300)
async def test_invoices_through_the_gateway_field_accuracy(fleet, http, pool, capsys):
    documents = samples.invoice_samples(INVOICES)
    ids = []
    started = time.perf_counter()
    for sample in documents:
        stored = await upload(http, pool, sample.data)
        assert stored["size"] == len(sample.data)
        ids.append(
            await submit(
                http, pool, {"type": "invoice.extract", "payload": {"document_id": stored["id"]}}
            )
        )
    robots = await wait_terminal(http, pool, ids, timeout_s=240)
    elapsed = time.perf_counter() - started

    exact = dict.fromkeys(FIELDS, 0)
    misses = []
    for sample, robot_id in zip(documents, ids, strict=True):
        robot = robots[robot_id]
        assert robot["status"] == "succeeded", (sample.name, robot["error"])
        for name in FIELDS:
            got = robot["result"]["values"][name]
            if got == sample.truth[name]:
                exact[name] += 1
            else:
                misses.append(f"{sample.name}: {name} {got!r} != {sample.truth[name]!r}")
    accuracy = sum(exact.values()) / (len(documents) * len(FIELDS))
    replicas = sorted({r["replica"] for r in robots.values()})
    shelf = await ray.get_actor("documents", namespace="robofleet").stats.remote()
    with capsys.disabled():
        print(
            f"\nOCR pool through the gateway: {accuracy:.1%} of fields exact over "
            f"{len(documents)} invoices ({len(documents) * len(FIELDS)} fields), "
            f"{elapsed:.1f} s ({len(documents) / elapsed * 60:.0f} documents/min) on {replicas}"
        )
        print("  per field: " + ", ".join(f"{k} {v}/{len(documents)}" for k, v in exact.items()))
        print(f"  documents actor: {shelf}")
        for miss in misses:
            print(f"  miss: {miss}")
    assert accuracy >= ACCURACY_GOAL, misses
    assert replicas == list(WORKERS), "capacity-aware routing uses every worker"
    assert shelf["fetched"] >= len(documents) - 5, "workers fetch bytes from the documents actor"


async def test_document_routes_answer_metadata_and_refuse_bad_uploads(http, pool):
    data = samples.invoice_samples(1, seed=5)[0].data
    first = await upload(http, pool, data)
    async with http.post(f"{pool}/v1/documents", data=data) as again:
        assert again.status == 200 and (await again.json())["id"] == first["id"]
    form = aiohttp.FormData()
    form.add_field("file", data, filename="invoice.png", content_type="image/png")
    async with http.post(f"{pool}/v1/documents", data=form) as multipart:
        assert multipart.status == 200 and (await multipart.json())["id"] == first["id"]
    async with http.get(f"{pool}/v1/documents/{first['id']}") as response:
        assert response.status == 200
        assert await response.json() == first
    async with http.get(f"{pool}/v1/documents/{'0' * 64}") as response:
        assert response.status == 404
    refused = {
        "empty": (b"", 400),
        "not an image": (b"hello, world", 415),
        "over the size limit": (b"%PDF-1.4\n" + b"0" * GATEWAY_MAX_BYTES, 413),
    }
    for name, (body, status) in refused.items():
        async with http.post(f"{pool}/v1/documents", data=body) as response:
            error = (await response.json())["error"]
            assert response.status == status, (name, error)
            assert error["message"] and "/work" not in error["message"]


async def test_the_ocr_replica_prefix_is_taken(http, pool):
    spec = {
        "name": "ocr-two",
        "class": "actors.ocr_worker:OcrWorker",
        "replica_prefix": "ocr",
        "replicas": 1,
    }
    async with http.post(f"{pool}/v1/modules", json=spec) as response:
        error = (await response.json())["error"]
        assert response.status == 409, error
    assert "replica prefix 'ocr' is used by module 'ocr'" in error["message"]


async def test_low_quality_scan_goes_through_the_fallback_chain(http, pool, capsys):
    stored = await upload(http, pool, samples.poor_scan())
    robot_id = await submit(
        http, pool, {"type": "ocr.extract", "payload": {"document_id": stored["id"]}}
    )
    robot = (await wait_terminal(http, pool, [robot_id], timeout_s=90))[robot_id]
    assert robot["status"] == "succeeded", robot["error"]
    result = robot["result"]
    attempts = result["attempts"]
    with capsys.disabled():
        print(
            f"\nfallback chain on {robot['replica']}: "
            + " -> ".join(f"{a['engine']}[{a['variant']}] {a['confidence']}" for a in attempts)
            + f"; kept {result['engine']} ({result['confidence']})"
        )
    assert attempts[0]["engine"] == "tesseract" and attempts[0]["confidence"] < 85
    assert len(attempts) >= 2
    assert result["engine"] in result["engines_tried"]
    assert result["pages"][0]["engine"] == result["engine"]
    assert "rapidocr" in result["engines_tried"]
    metrics = await metrics_of_both(http, pool)
    rapid = sum(
        v
        for (name, _, labels), v in metrics.items()
        if name == "robofleet_ocr_engine_calls_total" and "engine=rapidocr" in labels
    )
    assert rapid >= 1, "the second engine's calls are exported"


async def test_same_document_twice_is_a_dedup_hit(http, pool, capsys):
    sample = samples.invoice_samples(1, seed=99)[0]
    stored = await upload(http, pool, sample.data)
    robot = {"type": "invoice.extract", "payload": {"document_id": stored["id"]}}
    first_id = await submit(http, pool, robot)
    first = (await wait_terminal(http, pool, [first_id], timeout_s=60))[first_id]
    assert first["status"] == "succeeded" and first["result"]["ocr"]["cached"] is False
    before = await metrics_of_both(http, pool)
    second_id = await submit(http, pool, robot)
    second = (await wait_terminal(http, pool, [second_id], timeout_s=60))[second_id]
    after = await metrics_of_both(http, pool)
    with capsys.disabled():
        print(
            f"\ndedup: first run {first['result']['elapsed_s'] * 1000:.0f} ms on "
            f"{first['replica']}, repeat {second['result']['elapsed_s'] * 1000:.2f} ms on "
            f"{second['replica']} (inside the worker, {second['result']['ocr']['dedup']} hit); "
            f"engine calls {engine_calls(before)} -> "
            f"{engine_calls(after)}"
        )
    assert second["status"] == "succeeded"
    assert second["result"]["ocr"]["cached"] is True
    assert second["result"]["values"] == first["result"]["values"] == sample.truth
    assert engine_calls(after) == engine_calls(before)
    assert dedup_hits(after) == dedup_hits(before) + 1
    # The worker that read it answers from its own memory, the other one through the
    # documents actor. How long each takes is a benchmark figure (bench.ocr_throughput).
    assert second["result"]["ocr"]["dedup"] in ("worker", "shared")


async def test_bad_documents_fail_with_a_reason_and_the_workers_keep_serving(
    fleet, http, pool, capsys
):
    pids = {name: await _pid(name) for name in WORKERS}
    by_id = {
        "truncated png": (samples.truncated_png(), "truncated"),
        "corrupt pdf": (samples.corrupt_pdf(), "pdf"),
        "encrypted pdf": (samples.encrypted_pdf(), "encrypted"),
        "30000 x 30000 pixel bomb": (samples.pixel_bomb_png(30000), "pixels"),
        "over the worker's size limit": (
            b"\x89PNG\r\n\x1a\n" + os.urandom(WORKER_MAX_BYTES + 1000),
            "over the limit",
        ),
    }
    # These never get past the upload (400, 415): their robots carry the bytes instead.
    inline = {"empty": (b"", "empty"), "not an image": (b"hello, world", "not a png")}
    robots = {}
    for name, (data, _) in by_id.items():
        stored = await upload(http, pool, data)
        payload = {"document_id": stored["id"]}
        robots[name] = await submit(http, pool, {"type": "ocr.extract", "payload": payload})
    for name, (data, _) in inline.items():
        payload = {"document_b64": base64.b64encode(data).decode()}
        robots[name] = await submit(http, pool, {"type": "ocr.extract", "payload": payload})
    good = samples.invoice_samples(1, seed=7)[0]
    stored = await upload(http, pool, good.data)
    after_id = await submit(
        http, pool, {"type": "invoice.extract", "payload": {"document_id": stored["id"]}}
    )
    echo_id = await submit(http, pool, {"type": "echo", "payload": {"still": "fine"}})
    done = await wait_terminal(http, pool, [*robots.values(), after_id, echo_id], timeout_s=90)

    with capsys.disabled():
        print()
        for name, robot_id in robots.items():
            print(f"  {name}: {done[robot_id]['status']}: {done[robot_id]['error']}")
    for name, robot_id in robots.items():
        robot = done[robot_id]
        reason = {**by_id, **inline}[name][1]
        assert robot["status"] == "failed", (name, robot["status"])
        assert robot["attempt"] == 1, f"{name}: a bad document is not retried"
        assert reason in robot["error"].lower(), (name, robot["error"])
        assert "Traceback" not in robot["error"]
    assert done[after_id]["status"] == "succeeded"
    assert done[after_id]["result"]["values"] == good.truth
    assert done[echo_id]["status"] == "succeeded"
    assert {name: await _pid(name) for name in WORKERS} == pids, "no worker died"


@pytest.mark.timeout(180)
async def test_killed_worker_mid_document_robot_is_retried_on_another(fleet, http, pool):
    # A slow document (the whole fallback chain runs) that no worker has seen.
    stored = await upload(http, pool, samples.poor_scan(seed=23))
    robot_id = await submit(
        http, pool, {"type": "ocr.extract", "payload": {"document_id": stored["id"]}}
    )
    running: dict = {}

    async def is_running() -> bool:
        running.update(await get_robot(http, pool, robot_id))
        return running["status"] == "running" and running["replica"] in WORKERS

    await wait_until(is_running, timeout_s=30, interval_s=0.05)
    victim = running["replica"]
    victim_pid = await _pid(victim)
    os.kill(victim_pid, signal.SIGKILL)

    robot = (await wait_terminal(http, pool, [robot_id], timeout_s=120))[robot_id]
    assert robot["status"] == "succeeded", robot["error"]
    assert robot["attempt"] == 2
    assert robot["replica"] != victim
    assert robot["result"]["document_id"] == stored["id"]

    async def replaced() -> bool:
        try:
            return await _pid(victim) != victim_pid
        except Exception:
            return False

    await wait_until(replaced, timeout_s=90)
