"""The aiohttp load generator of the fixed-count scenarios (end to end, dispatch, scaling).

Runs in its own process so its CPU is not the server's event loop::

    python -m bench.loadgen --url http://127.0.0.1:8080/v1/robots --connections 64 \\
        --requests 20000 --robot-type echo --seed 7

Each connection is one coroutine that sends a request, reads the whole answer and sends the
next, so exactly ``--connections`` requests are outstanding. Each of the N bodies is sent
until accepted: a ``429`` goes again after its ``Retry-After``. The answer is one JSON object
on stdout (see :func:`summarise`). :func:`run_load` starts it. The duration-mode scenarios
(submit, the Ray Serve peer) use wrk instead (:mod:`bench.wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BODY_POOL = 4096  # distinct bodies wrk cycles through


@dataclass
class Load:
    """One load generator run: where, how many connections, how much, with which bodies.

    ``requests`` is for this module's fixed-count mode, ``duration_s`` and ``warmup_s`` for wrk.
    """

    url: str
    connections: int
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    robot_type: str = "echo"
    seed: int = 7
    headers: dict[str, str] | None = None

    def argv(self) -> list[str]:
        """The command line of ``python -m bench.loadgen`` for this load."""
        args = [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            self.url,
            "--connections",
            str(self.connections),
            "--requests",
            str(self.requests),
            "--robot-type",
            self.robot_type,
            "--seed",
            str(self.seed),
        ]
        for name, value in (self.headers or {}).items():
            args += ["--header", f"{name}: {value}"]
        return args


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of already sorted values; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))
    return sorted_values[rank]


def summarise(
    connections: int, latencies: list[float], statuses: dict[str, int], elapsed_s: float
) -> dict[str, Any]:
    """Throughput of 2xx answers and latency percentiles (ms) of every answered request."""
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    ordered = sorted(latencies)
    ms = 1000.0
    return {
        "connections": connections,
        "requests": len(latencies),
        "ok": ok,
        "statuses": statuses,
        "elapsed_s": round(elapsed_s, 4),
        "throughput_per_s": round(ok / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "latency_ms": {
            "p50": round(percentile(ordered, 0.50) * ms, 3),
            "p95": round(percentile(ordered, 0.95) * ms, 3),
            "p99": round(percentile(ordered, 0.99) * ms, 3),
            "max": round((ordered[-1] if ordered else 0.0) * ms, 3),
            "mean": round(sum(ordered) / len(ordered) * ms, 3) if ordered else 0.0,
        },
    }


async def generate(load: Load) -> dict[str, Any]:
    """Drive the load and return its summary."""
    import aiohttp

    from bench.workload import robot_bodies

    count = load.requests or 0
    bodies = robot_bodies(load.seed, count, load.robot_type)
    headers = {"Content-Type": "application/json", **(load.headers or {})}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    next_body = 0
    pending: list[bytes] = []
    retries = [0]

    async def connection(session: aiohttp.ClientSession) -> None:
        nonlocal next_body
        while True:
            if pending:
                body = pending.pop()
            elif next_body >= count:
                return
            else:
                body = bodies[next_body]
                next_body += 1
            started = time.perf_counter()
            try:
                async with session.post(load.url, data=body, headers=headers) as response:
                    await response.read()
                    code = str(response.status)
                    retry_after = response.headers.get("Retry-After")
            except aiohttp.ClientError as exc:
                code, retry_after = type(exc).__name__, None
            if code == "429":
                # Sending N robots means N accepted: a refused one goes again when told to.
                retries[0] += 1
                await asyncio.sleep(float(retry_after or 1))
                pending.append(body)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[code] = statuses.get(code, 0) + 1

    connector = aiohttp.TCPConnector(limit=load.connections, limit_per_host=load.connections)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(connection(session) for _ in range(load.connections)))
        elapsed = time.perf_counter() - started
    summary = summarise(load.connections, latencies, statuses, elapsed)
    summary["retried_429"] = retries[0]
    return summary


async def run_load(load: Load, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run the load generator in a subprocess and return its summary."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = await asyncio.create_subprocess_exec(
        *load.argv(),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}): {err.decode()[-2000:]}")
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    """Command line of the load generator; prints the summary as JSON."""
    parser = argparse.ArgumentParser(description="robofleet benchmark load generator")
    parser.add_argument("--url", required=True, help="URL to POST robot bodies to")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, required=True, help="bodies to get accepted")
    parser.add_argument("--robot-type", default="echo")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    load = Load(
        url=args.url,
        connections=args.connections,
        requests=args.requests,
        robot_type=args.robot_type,
        seed=args.seed,
        headers={k.strip(): v.strip() for k, v in headers.items()},
    )
    print(json.dumps(asyncio.run(generate(load))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
