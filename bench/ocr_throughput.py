"""OCR throughput: the ``ocr:<n>`` pool through robofleet against a serial ``tesseract`` loop.

``python -m bench.ocr_throughput [--documents 30] [--workers N] [--max-concurrency 2]``

Both sides read the same generated invoice scans (PNG, JPEG and TIFF, clean and noisy, some
skewed; from ``cluster/invoice_samples.py``) in the same run:

- robofleet: a fresh ``robofleet up`` (SQLite) with the shipped ``ocr`` module, one worker
  per CPU by default; the clock runs from the first ``POST /v1/documents`` to the last
  ``invoice.extract`` robot recorded succeeded. Every document is new, so no dedup hit
  helps. The pool also runs the fallback chain on low-confidence pages and extracts fields.
- peer: ``tesseract <image> stdout`` once per document, one after another, as a shell
  loop would: with the binary's own defaults (its OpenMP threads), and again with
  ``OMP_THREAD_LIMIT=1`` (what each pool worker uses).

One warm-up document goes through each side first. Then every document goes through
robofleet a second time: each repeat is a dedup hit, served by the worker that read it
("worker", the seed's 5 ms target inside the worker) or by the other worker through the
``documents`` actor ("shared"); the time inside the worker is reported per path. Prints the
figures and writes ``bench/results/ocr_throughput.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.fleet import ManagedFleet, Target, pythonpath
from bench.report import RESULTS_DIR

SEED_TARGET_PER_MIN = 50.0  # the seed's OCR target (architecture-mvp.md, section 3.2)
IMAGE_CONTAINERS = ("png", "jpeg", "tiff")  # what the tesseract CLI reads directly


def documents(count: int, seed: int = 31337) -> list[Any]:
    """``count`` generated invoice scans (images only) plus one more for warm-up, first."""
    import cluster.invoice_samples as samples

    made: list[Any] = []
    batch = max(12, count * 2)
    while len(made) < count + 1:
        made += [s for s in samples.invoice_samples(batch, seed) if s.container in IMAGE_CONTAINERS]
        seed += 1
    return made[: count + 1]


def ocr_module(workers: int, max_concurrency: int) -> dict[str, Any]:
    """The shipped ``ocr`` module spec with the pool size and slots asked for (a fixed pool:
    the figure is per pool size, so its autoscaling is off)."""
    from actors.ocr_worker import OCR_POOL

    return {
        **OCR_POOL.model_dump(by_alias=True, exclude_none=True, exclude={"autoscaling"}),
        "replicas": workers,
        "max_concurrency": max_concurrency,
    }


async def _through_robofleet(
    http: aiohttp.ClientSession, target: Target, docs: list[Any]
) -> list[dict[str, Any]]:
    async def one(sample: Any) -> str:
        async with http.post(f"{target.url}/v1/documents", data=sample.data) as response:
            stored = await response.json()
            assert response.status in (200, 201), stored
        robot = {"type": "invoice.extract", "payload": {"document_id": stored["id"]}}
        async with http.post(target.submit_url, json=robot) as response:
            answer = await response.json()
            assert response.status == 202, answer
            return str(answer["id"])

    ids = [await one(sample) for sample in docs]
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(ids):
        for robot_id in [i for i in ids if i not in done]:
            async with http.get(f"{target.url}/v1/robots/{robot_id}") as response:
                robot = await response.json()
            if robot["status"] in ("succeeded", "failed", "dead", "cancelled"):
                done[robot_id] = robot
        await asyncio.sleep(0.05)
    return [done[i] for i in ids]


async def run_pool(
    docs: list[Any], workers: int, max_concurrency: int, ray_address: str
) -> dict[str, Any]:
    """Documents per minute through a fresh robofleet with an OCR pool of ``workers``."""
    module = ocr_module(workers, max_concurrency)
    async with ManagedFleet("ocr", ray_address, [module]) as target:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(headers=target.headers, timeout=timeout) as http:
            await _through_robofleet(http, target, docs[:1])
            started = time.perf_counter()
            robots = await _through_robofleet(http, target, docs[1:])
            seconds = time.perf_counter() - started
            repeats = await _through_robofleet(http, target, docs[1:])
    ok = [r for r in robots if r["status"] == "succeeded"]
    fields = exact = 0
    for sample, robot in zip(docs[1:], robots, strict=True):
        if robot["status"] != "succeeded":
            continue
        values = robot["result"]["values"]
        fields += len(sample.truth)
        exact += sum(values.get(k) == v for k, v in sample.truth.items())
    worker_s = [r["result"]["elapsed_s"] for r in ok]
    return {
        "workers": workers,
        "max_concurrency": max_concurrency,
        "documents": len(robots),
        "succeeded": len(ok),
        "seconds": round(seconds, 2),
        "documents_per_min": round(len(ok) / seconds * 60, 1),
        "mean_worker_seconds": round(sum(worker_s) / max(1, len(worker_s)), 3),
        "field_accuracy": round(exact / fields, 4) if fields else None,
        "engines": sorted({r["result"]["ocr"]["engine"] for r in ok}),
        "replicas": sorted({r["replica"] for r in ok}),
        "dedup": dedup_figures(repeats),
    }


def dedup_figures(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Time inside the worker of repeated documents, by dedup path (ms: p50 and max)."""
    by_path: dict[str, list[float]] = {}
    for robot in repeats:
        if robot["status"] == "succeeded" and robot["result"]["ocr"].get("cached"):
            path = robot["result"]["ocr"].get("dedup") or "unknown"
            by_path.setdefault(path, []).append(robot["result"]["elapsed_s"] * 1000)
    figures: dict[str, Any] = {
        "repeats": len(repeats),
        "hits": sum(len(v) for v in by_path.values()),
    }
    for path, ms in sorted(by_path.items()):
        ms.sort()
        figures[path] = {
            "count": len(ms),
            "p50_ms": round(ms[len(ms) // 2], 3),
            "max_ms": round(ms[-1], 3),
        }
    return figures


def run_tesseract_cli(docs: list[Any], threads: int | None = None) -> dict[str, Any]:
    """Documents per minute of ``tesseract <file> stdout``, one document after another.

    ``threads`` sets ``OMP_THREAD_LIMIT``; None leaves Tesseract its own default.
    """
    binary = shutil.which("tesseract")
    if binary is None:
        raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    if threads is not None:
        env["OMP_THREAD_LIMIT"] = str(threads)
    suffix = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif"}
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as folder:
        paths = []
        for index, sample in enumerate(docs):
            path = Path(folder) / f"doc-{index:03d}{suffix[sample.container]}"
            path.write_bytes(sample.data)
            paths.append(path)

        def read(path: Path) -> None:
            subprocess.run([binary, str(path), "stdout"], env=env, check=True, capture_output=True)

        read(paths[0])
        started = time.perf_counter()
        for path in paths[1:]:
            read(path)
        seconds = time.perf_counter() - started
    count = len(docs) - 1
    return {
        "documents": count,
        "seconds": round(seconds, 2),
        "documents_per_min": round(count / seconds * 60, 1),
        "omp_thread_limit": threads,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run both sides on the same documents and return the figures."""
    import ray

    os.environ["PYTHONPATH"] = pythonpath()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # as bench/runner.py, for `ray start`
    workers = args.workers or os.cpu_count() or 1
    docs = documents(args.documents)
    print(f"[ocr bench] {len(docs) - 1} documents (+1 warm-up), pool of {workers}", flush=True)
    ray.init(
        address="local",
        include_dashboard=False,
        namespace="bench",
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        address = ray.get_runtime_context().gcs_address
        pool = await run_pool(docs, workers, args.max_concurrency, address)
    finally:
        ray.shutdown()
    print(f"[ocr bench] pool: {pool}", flush=True)
    cli = await asyncio.to_thread(run_tesseract_cli, docs)
    print(f"[ocr bench] tesseract CLI: {cli}", flush=True)
    cli_one = await asyncio.to_thread(run_tesseract_cli, docs, 1)
    print(f"[ocr bench] tesseract CLI, one thread: {cli_one}", flush=True)
    from bench.machine import describe

    return {
        "machine": describe(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "robofleet_pool": pool,
        "tesseract_cli_serial": cli,
        "tesseract_cli_serial_one_thread": cli_one,
        "ratio_pool_over_cli": round(pool["documents_per_min"] / cli["documents_per_min"], 2),
        "ratio_pool_over_cli_one_thread": round(
            pool["documents_per_min"] / cli_one["documents_per_min"], 2
        ),
        "seed_target_per_min": SEED_TARGET_PER_MIN,
        "meets_seed_target": pool["documents_per_min"] >= SEED_TARGET_PER_MIN,
    }


def table(result: dict[str, Any]) -> str:
    """The figures as a markdown table and a line of ratios."""
    pool, cli = result["robofleet_pool"], result["tesseract_cli_serial"]
    one = result["tesseract_cli_serial_one_thread"]
    pool_side = (
        f"robofleet, {pool['workers']} OCR workers x {pool['max_concurrency']} slots, "
        "invoice.extract"
    )
    lines = [
        "| side | documents | seconds | documents/min |",
        "| --- | ---: | ---: | ---: |",
        f"| {pool_side} | {pool['documents']} | {pool['seconds']} | {pool['documents_per_min']} |",
        f"| serial `tesseract` CLI loop | {cli['documents']} | {cli['seconds']} | "
        f"{cli['documents_per_min']} |",
        f"| serial `tesseract` CLI loop, OMP_THREAD_LIMIT=1 | {one['documents']} | "
        f"{one['seconds']} | {one['documents_per_min']} |",
        "",
        f"ratio pool / serial CLI: {result['ratio_pool_over_cli']}x "
        f"({result['ratio_pool_over_cli_one_thread']}x against one thread); seed target "
        f"{SEED_TARGET_PER_MIN:g} documents/min: "
        f"{'met' if result['meets_seed_target'] else 'NOT met'}; pool field accuracy "
        f"{pool['field_accuracy']:.1%}",
    ]
    dedup = pool["dedup"]
    paths = [p for p in ("worker", "shared", "unknown") if p in dedup]
    lines.append(
        f"dedup: {dedup['hits']} of {dedup['repeats']} repeats were hits; inside the worker "
        + "; ".join(
            f"{p}: p50 {dedup[p]['p50_ms']} ms, max {dedup[p]['max_ms']} ms "
            f"({dedup[p]['count']})"
            for p in paths
        )
        + " (seed target: 5 ms on the worker that read it)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--workers", type=int, help="OCR workers (default: one per CPU)")
    parser.add_argument("--max-concurrency", type=int, default=2, help="slots per worker")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "ocr_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
