"""Point-in-time restore of PostgreSQL: a base backup plus streamed WAL, restored to a time
between two batches of robots, holds the first batch and none of the second.

Runs on a throwaway cluster of its own (``tests.integration.pg_cluster``): WAL streaming
needs ``wal_level=replica`` and replication access that the shared test server is not
reconfigured for. Every step is the ``robofleet backup`` command a user runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from runtime import lifecycle
from runtime.backup import find_backup
from runtime.backup.manifest import read_manifest
from runtime.models import Robot, RobotStatus, new_robot_id
from runtime.store import PostgresStore
from tests.integration.conftest import ROOT, free_port
from tests.integration.pg_cluster import pg_cluster, pg_ctl_stop


def robofleet(args: list[str], env: dict[str, str], check: bool = True) -> str:
    """Run ``robofleet ARGS`` as a user would; its output (stdout + stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    if check:
        assert done.returncode == 0, output
    return output


async def add_batch(store: PostgresStore, n: int, tag: str) -> dict[str, RobotStatus]:
    """Submit ``n`` robots to the store, start a third and finish a third; their states."""
    robots = [
        Robot(id=new_robot_id(), type="echo", payload={"batch": tag, "i": i}) for i in range(n)
    ]
    await store.create_robots(robots)
    states = {r.id: RobotStatus.QUEUED for r in robots}
    started = robots[: 2 * n // 3]
    await store.apply([lifecycle.start(r.id, 1, "echo", "module:echo:0") for r in started])
    for robot in started:
        states[robot.id] = RobotStatus.RUNNING
    finished = robots[: n // 3]
    await store.apply([lifecycle.succeed(r.id, 1, {"ok": True}) for r in finished])
    for robot in finished:
        states[robot.id] = RobotStatus.SUCCEEDED
    return states


async def archive_caught_up(dsn: str, timeout_s: float = 30.0) -> None:
    """Wait until pg_receivewal has flushed everything the server has written so far."""
    conn = await asyncpg.connect(dsn)
    try:
        target = await conn.fetchval("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            flushed = await conn.fetchval(
                "SELECT flush_lsn FROM pg_stat_replication "
                "WHERE application_name = 'pg_receivewal'"
            )
            if flushed is not None and flushed >= target:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"pg_receivewal did not reach {target} in {timeout_s}s")
    finally:
        await conn.close()


async def test_point_in_time_restore_holds_the_first_batch_and_none_of_the_second(
    tmp_path: Path,
) -> None:
    with pg_cluster() as pg:
        backups = tmp_path / "backups"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ROBOFLEET_DATABASE_URL": pg.dsn,
            "ROBOFLEET_DATA_DIR": str(tmp_path / "data"),
            "ROBOFLEET_BACKUP_DIR": str(backups),
        }
        store = PostgresStore(pg.dsn)
        await store.open()
        streamer = subprocess.Popen(
            [sys.executable, "-m", "cluster.cli", "backup", "wal"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        restored_dir = pg.root / "restored"
        try:
            assert streamer.stdout is not None
            assert "streaming WAL" in streamer.stdout.readline()
            created = robofleet(["backup", "create", "--base"], env)
            assert "postgres" in created
            base = read_manifest(find_backup(backups, None)).base_backup
            assert base is not None and base.start_wal is not None
            first = await add_batch(store, 300, "first")
            await asyncio.sleep(0.5)
            target = time.time()
            await asyncio.sleep(0.5)
            second = await add_batch(store, 300, "second")
            await archive_caught_up(pg.dsn)
            await store.close()
            # Retention keeps the WAL the base backup needs (the segments before it may go).
            assert "deleted 0 backups" in robofleet(["backup", "prune"], env)

            when = datetime.fromtimestamp(target, UTC).isoformat()
            port = free_port()
            drill = robofleet(
                ["backup", "restore", "--to-time", when, "--pg-data-dir", str(restored_dir),
                 "--pg-port", str(port)],
                env,
            )
            print(drill)
            assert re.search(r"restore drill took \d+\.\d+s", drill), drill

            restored = PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/robofleet")
            await restored.open()
            try:
                found = {rid: await restored.get_robot(rid) for rid in [*first, *second]}
            finally:
                await restored.close()
            missing = [rid for rid in first if found[rid] is None]
            assert not missing, f"{len(missing)} robots of the first batch are missing"
            assert {rid: found[rid].status for rid in first} == first  # type: ignore[union-attr]
            assert [rid for rid in second if found[rid] is not None] == []
        finally:
            pg_ctl_stop(restored_dir, pg.user)
            streamer.send_signal(signal.SIGINT)
            try:
                streamer.wait(30)
            except subprocess.TimeoutExpired:
                streamer.kill()  # and its pg_receivewal, which would outlive the test
                streamer.wait()
                subprocess.run(["pkill", "-f", f"pg_receivewal.*{backups}"], check=False)
                raise
