"""Isolation of a managed run: each group of scenarios in its own process and Ray cluster.

Why: on a shared machine anyone's ``ray stop --force`` (``robofleet up`` and the test
fixtures call it on exit) kills every Ray process there, so a long run on one cluster rarely
survives. A group runs as ``python -m bench --group NAME``; when its process dies or reports
a failure, it runs once more on a fresh cluster, and the parent removes what the dead
attempt left behind (its temporary directories and PostgreSQL schemas).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.fleet import ROOT, pythonpath
from bench.report import QUEUE_PEERS

ATTEMPTS = 2
SCHEMA_LOG_ENV = "BENCH_SCHEMA_LOG"
WORK_DIR_ENV = "BENCH_WORK_DIR"


def plan(
    scenarios: tuple[str, ...], stores: tuple[str, ...], scaling_replicas: tuple[int, ...]
) -> list[str]:
    """The groups of a managed run, in order; the first store group also scales to 1."""
    groups = ["ray"] if "ray" in scenarios else []
    store_scenarios = {"submit", "openloop", "e2e", "dispatch", "scaling"} & set(scenarios)
    store_groups = [f"store:{s}" for s in stores] if store_scenarios else []
    groups += store_groups
    if "scaling" in scenarios:
        groups += [f"scaling:{n}" for n in scaling_replicas if n != 1 or not store_groups]
    if "backlog" in scenarios:
        groups.append("backlog")  # a robofleet of its own: its queue starts empty
    # the job-queue peers need no Ray: they run in the parent
    groups += [peer for peer in QUEUE_PEERS if peer in scenarios]
    if "serve" in scenarios:
        groups.append("serve")
    if "shape" in scenarios:
        groups.append("shape")  # two actors: a Ray cluster of its own, like serve
    if "floor" in scenarios or "openloop" in scenarios:
        # a bare aiohttp process: no Ray, runs in the parent; at the submit levels and at
        # the open-loop rates the store groups measured robofleet at
        groups.append("floor")
    if "cache" in scenarios:
        groups.append("cache")
    return groups


def merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Merge one group's scenarios into the run's: per-store maps and scaling rows add up."""
    for name, value in part.items():
        if name in ("submit", "openloop", "e2e", "dispatch"):
            into.setdefault(name, {}).update(value)
        elif name == "scaling":
            rows = into.setdefault(name, []) + value
            into[name] = sorted(rows, key=lambda r: r["replicas"])
        else:
            into[name] = value


async def spawn(
    group: str, options: dict[str, Any], database_url: str | None
) -> tuple[int, dict[str, Any] | None]:
    """Run one group in a child process; return its exit code and its output, if any."""
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-group-{group.replace(':', '-')}-"))
    options_path, out_path = scratch / "options.json", scratch / "out.json"
    schema_log = scratch / "schemas.txt"
    options_path.write_text(json.dumps(options))
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(),
        SCHEMA_LOG_ENV: str(schema_log),
        WORK_DIR_ENV: str(scratch),
        # Die 10 s after the cluster vanishes rather than Ray's default 60 s.
        "RAY_gcs_rpc_server_reconnect_timeout_s": "10",
    }
    command = [sys.executable, "-m", "bench", "--group", group,
               "--group-options", str(options_path), "--group-out", str(out_path)]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env)
    try:
        code = await process.wait()
    except BaseException:
        process.terminate()
        await process.wait()
        raise
    finally:
        if schema_log.exists() and database_url:
            await drop_schemas(schema_log.read_text().split(), database_url)
    output = json.loads(out_path.read_text()) if out_path.exists() else None
    shutil.rmtree(scratch, ignore_errors=True)
    return code, output


async def drop_schemas(schemas: list[str], database_url: str) -> None:
    """Drop the PostgreSQL schemas a group made (those it did not drop itself)."""
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
