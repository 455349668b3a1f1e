"""wrk is the load generator of the HTTP scenarios of ``python -m bench``: for a duration
(submit, the Ray Serve peer, the floor: :func:`run`) or for a count (end to end, dispatch,
scaling: :func:`send`).

Each run is ``wrk -t1 -c<N> -d<S>s --latency -s <script> <url>`` in a process of its own. The
script, written to a temporary file, POSTs the seeded bodies of
:func:`bench.workload.robot_bodies` in turn, counts the answers by status code and prints one
JSON line when done. A summary has throughput, latency percentiles and answers by status.
A timed run is preceded by an unmeasured one of ``warmup_s`` seconds (wrk counts whole
seconds, so both are rounded up) and adds the CPU time per answered request of each process
role (:mod:`bench.cpu`). A counted run stops once its count of bodies was accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.loadgen import BODY_POOL, Load
from bench.workload import robot_bodies

INSTALL = "wrk is not installed: apt-get install -y wrk (make bench installs it)"
TIMEOUT_S = 60  # a slower answer would not be counted, so make it generous
COUNTED = "all-counted"  # what a counted run prints once its last body is accepted
# The bodies as a Lua table, each thread's requests prepared from them once (init) and
# ``next_request()`` handing them out in turn: the start of this script and of
# bench.open_loop's. Part of a %-template (``%s`` takes the quoted bodies), so ``%`` is doubled.
ROTATION = """
local bodies = {
%s
}
local prepared, turn = {}, 0  -- per thread: the bodies as whole requests, the last one sent

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format("POST", nil, nil, body)
  end
end

local function next_request()
  turn = turn %% #prepared + 1
  return prepared[turn]
end
"""
LUA = (
    ROTATION
    + """
local total = %d  -- bodies to get accepted, then stop; 0: run for the duration
local sent, accepted, refused, stopped = 0, 0, 0, false
local waits = {}  -- ms each replacement of a refused body waits first (its Retry-After)
statuses = {}  -- global: done() reads it from each thread
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

request = next_request

if total > 0 then
  -- Counted: a connection sends only while bodies are left; the others idle until the
  -- last answer stops the run. A body is counted here, before request() builds it.
  function delay()
    if sent >= total then return 3600000 end
    sent = sent + 1
    return table.remove(waits) or 0
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if total == 0 or stopped then return end
  if status >= 200 and status <= 299 then
    accepted = accepted + 1
  else
    sent = sent - 1  -- refused: another body goes in its place, after its Retry-After
    refused = refused + 1
    table.insert(waits, 1000 * (tonumber(headers["Retry-After"]) or 0))
  end
  if accepted >= total or refused > total then
    stopped = true
    wrk.thread:stop()
    io.write("%s\\n")  -- the main thread sleeps out -d unless interrupted: bench.wrk does
    io.flush()
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local fields, non_2xx = {}, 0
  for status, n in pairs(counts) do
    fields[#fields + 1] = string.format('"%%d": %%d', status, n)
    if status < 200 or status > 299 then non_2xx = non_2xx + n end
  end
  local e = summary.errors
  local answered = summary.requests > 0
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "non_2xx": %%d, "statuses": {%%s}, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"latency_us": {"p50": %%d, "p95": %%d, "p99": %%d, "max": %%d, "mean": %%.1f}}\\n',
    summary.requests, summary.duration, non_2xx, table.concat(fields, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, answered and latency.mean or 0))
end
"""
)


def missing() -> str | None:
    """Why wrk cannot run on this machine, or None when it can."""
    return None if shutil.which("wrk") else INSTALL


@functools.cache
def version() -> str | None:
    """``wrk 4.1.0``, from ``wrk -v``; None when wrk is not installed."""
    if missing():
        return None
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    found = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
    return f"wrk {found[0]}" if found else "wrk"


def _lua_string(data: bytes) -> str:
    return (
        '"'
        + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in data)
        + '"'
    )


def lua_bodies(bodies: list[bytes]) -> str:
    """``bodies`` as the rows of :data:`ROTATION`'s Lua table (its ``%s``), one a line."""
    return ",\n".join(_lua_string(b) for b in bodies)


def script(bodies: list[bytes], total: int = 0) -> str:
    """The Lua script that cycles through ``bodies`` and prints the JSON summary line.

    With ``total`` it stops once that many answers were 2xx (a refused body is replaced).
    """
    return LUA % (lua_bodies(bodies), total, COUNTED)


def summary(out: dict[str, Any], connections: int) -> dict[str, Any]:
    """The script's JSON line as a summary: 2xx answers per second, latency in ms, statuses."""
    statuses = dict(out["statuses"])
    statuses.update({f"{k}_error": n for k, n in out["errors"].items() if n and k != "timeout"})
    elapsed = out["duration_us"] / 1e6
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    ms = {k: round(v / 1000, 3) for k, v in out["latency_us"].items()}
    return {
        "connections": connections,
        "requests": sum(statuses.values()),
        "ok": ok,
        "statuses": statuses,
        "elapsed_s": round(elapsed, 4),
        "throughput_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": ms,
        "timeouts": out["errors"]["timeout"],
        "generator": version(),
    }


async def _wrk(load: Load, seconds: float, lua: Path) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{load.connections}", f"-d{max(1, math.ceil(seconds))}s",
            "--latency", f"--timeout={TIMEOUT_S}s", "-s", str(lua)]  # fmt: skip
    for name, value in (load.headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *argv, load.url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(_output(process), seconds + TIMEOUT_S + 30)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    lines = [line for line in out.decode().splitlines() if line.startswith('{"requests"')]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {(out + err).decode()[-2000:]}")
    return json.loads(lines[-1])


async def _output(process: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """wrk's stdout and stderr once it exits; a counted run is interrupted when it says so."""
    assert process.stdout is not None and process.stderr is not None
    errors = asyncio.ensure_future(process.stderr.read())
    out = b""
    try:
        while line := await process.stdout.readline():
            if line.strip() == COUNTED.encode():
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)  # wrk prints its summary and exits
            else:
                out += line
        await process.wait()
        return out, await errors
    finally:
        errors.cancel()


@contextlib.contextmanager
def _script_file(load: Load, total: int = 0) -> Iterator[Path]:
    """The Lua script of ``load`` in a temporary file (``total``: a counted run)."""
    if missing():
        raise RuntimeError(INSTALL)
    pool = min(total, BODY_POOL) if total else BODY_POOL
    bodies = robot_bodies(load.seed, pool, load.robot_type)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        lua = Path(scratch) / "post.lua"
        lua.write_text(script(bodies, total))
        yield lua


def counted_timeout_s(count: int) -> float:
    """How long a counted run of ``count`` robots may take (and a scenario wait for them)."""
    return max(120.0, count / 50)


async def run(load: Load, repeats: int = 1) -> dict[str, Any]:
    """Warm up, then drive ``load`` for ``load.duration_s`` seconds ``repeats`` times.

    Returns the summary of the run with the median p99 (on a busy host one run can land on
    a hiccup either way), with every run's throughput and percentiles under ``runs`` and
    the CPU per answered request of each process role under ``cpu_us_per_request``.
    """
    results = []
    with _script_file(load) as lua:
        if load.warmup_s > 0:
            await _wrk(load, load.warmup_s, lua)
        for _ in range(max(1, repeats)):
            meter = CpuMeter("wrk")
            meter.start()
            out = await _wrk(load, load.duration_s or 5.0, lua)
            meter.stop()
            result = summary(out, load.connections)
            result["cpu_us_per_request"] = meter.per_request_us(result["ok"])
            results.append(result)
    median = sorted(results, key=lambda r: r["latency_ms"]["p99"])[len(results) // 2]
    median["runs"] = [
        {"throughput_per_s": r["throughput_per_s"], **r["latency_ms"]} for r in results
    ]
    return median


async def send(load: Load) -> dict[str, Any]:
    """Get ``load.requests`` bodies accepted over ``load.connections`` connections, then stop.

    The counted mode of end to end and dispatch: no warm-up, one run. A refused body is
    replaced by another after its ``Retry-After``. Returns throughput, latency and statuses
    (no CPU figures: the caller meters what it times), or raises if fewer were accepted
    within :func:`counted_timeout_s`. A body whose answer a socket error lost is sent again
    and may have been stored the first time: ``statuses`` then counts ``read_error``.
    """
    count = load.requests or 0
    if count < 1:
        raise ValueError("a counted run needs requests >= 1")
    with _script_file(load, count) as lua:
        out = summary(await _wrk(load, counted_timeout_s(count), lua), load.connections)
    if out["ok"] < count:
        raise RuntimeError(f"{out['ok']}/{count} robots accepted: {out['statuses']}")
    return out
