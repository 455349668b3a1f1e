"""Scenario ``openloop``: latency at a constant offered rate, free of coordinated omission.

A closed-loop generator (wrk's timed runs, :mod:`bench.wrk`) sends the next request only
once the previous answer is in, so a stall delays the requests that would have arrived
during it and their wait is never measured. Here requests are due on a fixed schedule
whatever the server does, and each request's latency runs from the time it was due: a stall
counts for every request it held back.

Rates: 25%, 50% and 75% (``Sizes.openloop_fractions``) of robofleet's maximum accept rate,
the best accepted/s of the submit scenario of the same run when it ran, else one short
closed-loop wrk run at the highest submit level. robofleet's ``POST /v1/robots`` (the bodies
of :mod:`bench.submit`, type ``bench-hold``: held in queue, so the accept path alone) and
the bare HTTP floor (:mod:`bench.http_floor`) run at the same offered rates, so their p99
compare.

The tool is wrk driven by a Lua script, not vegeta or wrk2: neither is packaged for Debian
and no other registry that carries them is reachable from these machines, while wrk is
already the harness's generator. The script does what wrk2 does: ``-t<C> -c<C>``, one
connection per wrk thread (each thread has its own Lua state, so every answer is known to
belong to the one request that thread has in flight); connection ``k`` of ``C`` owns the
due times ``t0 + (k + j*C) / rate``, and wrk's ``delay()`` hook holds each request until its
due time. The latency of a request is from ``min(due, sent)`` (wrk's timer counts whole ms,
so a request can leave up to 1 ms early; one that leaves late because its connection was
still busy is timed from when it was due) to its answer, read from ``CLOCK_MONOTONIC``
through LuaJIT's FFI. Only requests due in the measured window (after the warm-up) are
counted; a due request in the window that got no answer before wrk stopped (1 s after the
window) counts as unanswered, and unanswered ones are errors.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from bench import wrk
from bench.cpu import CpuMeter
from bench.fleet import HOLD_MODULE, HOLD_TYPE, Target, ensure_module
from bench.loadgen import BODY_POOL, Load, percentile
from bench.sizes import Sizes
from bench.workload import robot_bodies

LEAD_S = 0.3  # from the script's setup to the first due time: the connections open meanwhile
TAIL_S = 1.0  # after the window, for the answers of the last due requests
OUTPUT_PREFIX = '{"openloop"'
LUA = (
    """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } openloop_timespec;
int clock_gettime(int clock_id, openloop_timespec *tp);
]]
local clock = ffi.new("openloop_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC: the same clock in every thread
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end
"""
    + wrk.ROTATION
    + """
local rate = %.6f         -- requests due per second, all connections together
local connections = %d
local first, last = %d, %d  -- the measured window: due indexes first .. last - 1
local lead_us = %d

-- main state: give every thread (one connection each) its index and the common start
local threads, start = {}, nil
function setup(thread)
  start = start or now_us() + lead_us
  thread:set("conn", #threads)
  thread:set("t0", start)
  table.insert(threads, thread)
end

-- thread state
local slot = 0
local index, due, sent = 0, 0, 0
latencies = {}  -- µs, of answered requests due in the window (globals: done() reads them)
statuses = {}

function delay()
  index = conn + slot * connections
  slot = slot + 1
  due = t0 + index * 1000000 / rate
  local wait = due - now_us()
  if wait <= 0 then return 0 end
  return math.floor(wait / 1000)  -- whole ms: never later than due, at most 1 ms early
end

function request()
  sent = now_us()
  return next_request()
end

function response(status, headers, body)
  if index < first or index >= last then return end
  latencies[#latencies + 1] = math.floor(now_us() - math.min(due, sent) + 0.5)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all, counts = {}, {}
  for _, thread in ipairs(threads) do
    for _, us in ipairs(thread:get("latencies")) do all[#all + 1] = us end
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local fields = {}
  for status, n in pairs(counts) do
    fields[#fields + 1] = string.format('"%%d": %%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    '{"openloop": 1, "due": %%d, "statuses": {%%s}, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"latency_us": [%%s]}\\n',
    last - first, table.concat(fields, ", "), e.connect, e.read, e.write, e.timeout,
    table.concat(all, ",")))
end
"""
)


def script(bodies: list[bytes], rate: float, connections: int, first: int, last: int) -> str:
    """The Lua script: ``connections`` connections share ``rate`` requests/s of ``bodies``.

    Requests with due index ``first`` to ``last - 1`` (index ``i`` is due ``i / rate``
    seconds after the common start) are the measured ones.
    """
    if rate <= 0 or connections < 1 or not 0 <= first < last:
        raise ValueError(f"bad schedule: rate {rate}, {connections} connections, {first}..{last}")
    return LUA % (wrk.lua_bodies(bodies), rate, connections, first, last, round(LEAD_S * 1e6))


def parse(output: str, duration_s: float) -> dict[str, Any]:
    """The script's JSON line in wrk's stdout as one result row (without offered rate).

    ``achieved_per_s`` is 2xx answers to requests due in the window over its length;
    percentiles are nearest-rank over every answered request of the window, in ms; ``errors``
    counts non-2xx answers, due requests left unanswered (a read, write or timeout error of
    wrk leaves its request so) and failed connects. ``socket_errors`` are wrk's counts over
    the whole run, warm-up included. Raises ``ValueError`` when the output has no such line.
    """
    lines = [line for line in output.splitlines() if line.startswith(OUTPUT_PREFIX)]
    if not lines:
        raise ValueError(f"no open-loop summary in the output: {output[-2000:]!r}")
    out = json.loads(lines[-1])
    latencies = sorted(us / 1000 for us in out["latency_us"])
    statuses = {str(code): n for code, n in out["statuses"].items()}
    answered = sum(statuses.values())
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    socket_errors = {k: n for k, n in out["errors"].items() if n}
    unanswered = max(0, out["due"] - answered)
    return {
        "achieved_per_s": round(ok / duration_s, 1),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "p999_ms": round(percentile(latencies, 0.999), 3),
        "max_ms": round(latencies[-1], 3) if latencies else 0.0,
        "due": out["due"],
        "answered": answered,
        "unanswered": unanswered,
        "statuses": statuses,
        "socket_errors": socket_errors,
        "errors": answered - ok + unanswered + socket_errors.get("connect", 0),
    }


async def drive(load: Load, rate: float, warmup_s: float, duration_s: float) -> dict[str, Any]:
    """One open-loop wrk run of ``load`` at ``rate``/s: warm up, then measure ``duration_s``.

    Returns :func:`parse`'s row with ``offered_per_s``, ``connections`` and the CPU per
    answered request of each process role (:mod:`bench.cpu`).
    """
    first = math.ceil(rate * warmup_s)
    last = max(first + 1, math.ceil(rate * (warmup_s + duration_s)))
    window_s = (last - first) / rate
    bodies = robot_bodies(load.seed, BODY_POOL, load.robot_type)
    seconds = math.ceil(LEAD_S + warmup_s + duration_s + TAIL_S)
    argv = ["wrk", f"-t{load.connections}", f"-c{load.connections}", f"-d{seconds}s",
            f"--timeout={wrk.TIMEOUT_S}s"]  # fmt: skip
    for name, value in (load.headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="bench-openloop-") as scratch:
        lua = Path(scratch) / "openloop.lua"
        lua.write_text(script(bodies, rate, load.connections, first, last))
        meter = CpuMeter("wrk")
        meter.start()
        process = await asyncio.create_subprocess_exec(
            *argv, "-s", str(lua), load.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(process.communicate(), seconds + 60)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        meter.stop()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {(out + err).decode()[-2000:]}")
    row = parse(out.decode(), window_s)
    cpu = meter.per_request_us(row["answered"])
    return {"offered_per_s": round(rate, 1), "connections": load.connections, **row,
            "cpu_us_per_request": cpu}  # fmt: skip


async def at_rates(
    url: str,
    rates: list[tuple[float, float]],
    sizes: Sizes,
    robot_type: str = "echo",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One :func:`drive` row per ``(fraction, offered rate/s)``, with its ``fraction``."""
    if wrk.missing():
        raise RuntimeError(wrk.INSTALL)
    rows = []
    for fraction, rate in rates:
        load = Load(
            url=url,
            connections=sizes.openloop_connections,
            robot_type=robot_type,
            seed=sizes.seed + 1000,
            headers=headers,
        )
        row = await drive(load, rate, sizes.openloop_warmup_s, sizes.openloop_duration_s)
        rows.append({"fraction": fraction, **row})
    return rows


def offered(max_per_s: float, sizes: Sizes) -> list[tuple[float, float]]:
    """The ``(fraction, rate/s)`` pairs for a maximum of ``max_per_s`` accepted/s."""
    return [(f, round(f * max_per_s, 1)) for f in sizes.openloop_fractions]


async def max_rate(
    target: Target, sizes: Sizes, submit_rows: list[dict[str, Any]] | None
) -> tuple[float, str]:
    """robofleet's maximum accepted/s and where it came from (``submit`` or ``measured``)."""
    best = max((r["accepted_per_s"] for r in submit_rows or []), default=0.0)
    if best > 0:
        return best, "submit"
    load = Load(
        url=target.submit_url,
        connections=max(sizes.submit_levels),
        duration_s=sizes.submit_duration_s,
        warmup_s=sizes.warmup_s,
        robot_type=HOLD_TYPE,
        seed=sizes.seed,
        headers=target.headers,
    )
    measured = (await wrk.run(load))["throughput_per_s"]
    if measured <= 0:
        raise RuntimeError("robofleet accepted nothing in the closed-loop run")
    return measured, "measured"


async def run(
    target: Target, sizes: Sizes, submit_rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """robofleet's submit at each fraction of its maximum rate, held robots.

    Returns ``max_per_s``, ``max_source``, ``connections`` and ``rates`` (one row per
    fraction: ``fraction``, ``offered_per_s``, ``achieved_per_s``, ``p50_ms``, ``p99_ms``,
    ``p999_ms``, ``errors`` and the details of :func:`parse`). The floor's rows at the same
    rates are added as ``floor`` by :func:`bench.http_floor.open_loop`.
    """
    await ensure_module(target, HOLD_MODULE)
    best, source = await max_rate(target, sizes, submit_rows)
    rows = await at_rates(target.submit_url, offered(best, sizes), sizes, HOLD_TYPE, target.headers)
    return {
        "max_per_s": best,
        "max_source": source,
        "connections": sizes.openloop_connections,
        "rates": rows,
    }
