"""Backups: taken while robots run, restored robot by robot, proved by ``verify``.

The 5,000-robot drill runs through the real stores (SQLite file, PostgreSQL database on the
test server) at full size, since it takes seconds: ``bench.backup_drill`` accepts robots in
batches and keeps submitting and moving them on while the backup runs. The running fleet of
the session shows the same through its gateway, and its ``/metrics`` the last verification.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bench.backup_drill import accept_robots, drill
from runtime.backup import find_backup, last_verified_at, list_backups, verify_backup
from runtime.store import PostgresStore, RobotStore, SqliteStore
from tests.integration.conftest import ROOT, Fleet, service_missing, submit
from tests.integration.pg_fleet import create_database, drop_database, server_dsn

DRILL_ROBOTS = int(os.environ.get("ROBOFLEET_TEST_BACKUP_ROBOTS", "5000"))


def robofleet(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``robofleet ARGS`` as a user would (output as text, exit code kept)."""
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _server_reachable() -> None:
    try:
        conn = await asyncpg.connect(server_dsn(), timeout=5)
        await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        service_missing(f"PostgreSQL at {server_dsn()} is unreachable ({exc})")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_backup_taken_while_robots_run_restores_every_robot_as_it_was(
    kind: str, tmp_path: Path
) -> None:
    if kind == "postgres":
        await _server_reachable()
    figures = await drill(kind, DRILL_ROBOTS, tmp_path, server_dsn())
    print(figures.line())
    assert figures.robots_before == DRILL_ROBOTS
    assert figures.submitted_during > 0 and figures.moved_during > 0
    assert figures.robots_in_backup >= DRILL_ROBOTS
    assert figures.problems == []


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_verify_detects_a_flipped_byte_and_a_missing_file(
    kind: str, tmp_path: Path
) -> None:
    env = {"ROBOFLEET_DATA_DIR": str(tmp_path / "data"), "ROBOFLEET_DATABASE_URL": ""}
    store: RobotStore
    if kind == "postgres":
        dsn = await asyncio.to_thread(create_database)
        env["ROBOFLEET_DATABASE_URL"] = dsn
        store = PostgresStore(dsn)
    else:
        (tmp_path / "data").mkdir()
        store = SqliteStore(tmp_path / "data" / "robofleet.db")
    try:
        await store.open()
        await accept_robots(store, 300)
        await store.close()
        made = robofleet(["backup", "create"], env)
        assert made.returncode == 0, made.stderr
        backups = tmp_path / "data" / "backups"
        good = find_backup(backups, None)
        data_file = next(p for p in good.iterdir() if p.name.startswith("robofleet."))
        flipped, missing = backups / f"{good.name}-flipped", backups / f"{good.name}-missing"
        shutil.copytree(good, flipped)
        shutil.copytree(good, missing)
        _flip_one_byte(flipped / data_file.name)
        (missing / data_file.name).unlink()

        checked = robofleet(["backup", "verify", "--all"], env)
        assert checked.returncode == 1, checked.stdout
        assert f"backup {good.name}: verified" in checked.stdout
        assert f"backup {flipped.name}: FAILED: file {data_file.name} does not match its " \
            "SHA-256" in checked.stdout
        assert f"backup {missing.name}: FAILED: file {data_file.name} is missing" in \
            checked.stdout
        assert [e.verified for e in list_backups(backups)] == [True, False, False]
        target = ["--data-dir", str(tmp_path / "fresh"), "--backup-dir", str(backups)]
        if kind == "postgres":
            target = ["--database-url", f"{dsn}_restored"]
        restored = robofleet(["backup", "restore", flipped.name, *target], env)
        assert restored.returncode == 1
        assert restored.stderr == f"error: file {data_file.name} does not match its SHA-256\n"
    finally:
        if kind == "postgres":
            await asyncio.to_thread(drop_database, dsn)


async def test_the_running_fleet_is_backed_up_verified_and_its_gateway_says_when(
    fleet: Fleet, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    before = [await submit(http, fleet.url, {"type": "echo", "payload": {"n": i}})
              for i in range(50)]

    async def keep_submitting(stop: asyncio.Event) -> int:
        n = 0
        while not stop.is_set():
            await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 0.05}})
            n += 1
        return n

    stop = asyncio.Event()
    submitter = asyncio.create_task(keep_submitting(stop))
    backups = tmp_path / "backups"
    made = await asyncio.to_thread(
        robofleet,
        ["backup", "create", "--verify", "--data-dir", str(fleet.data_dir),
         "--backup-dir", str(backups)],
        {"ROBOFLEET_DATABASE_URL": ""},
    )
    stop.set()
    during = await submitter
    assert made.returncode == 0, made.stderr
    assert "verified" in made.stdout and during > 0

    # The session's gateway reads <its data dir>/backups; record the verification there.
    fleet_backups = fleet.data_dir / "backups"
    shutil.copytree(backups, fleet_backups, dirs_exist_ok=True)
    assert verify_backup(fleet_backups, find_backup(fleet_backups, None)).ok
    async with http.get(f"{fleet.url}/metrics") as response:
        text = await response.text()
    line = next(x for x in text.splitlines()
                if x.startswith("robofleet_backup_last_verified_timestamp_seconds "))
    assert float(line.split()[1]) == last_verified_at(fleet_backups)

    # Restoring over the live store is refused; a fresh data dir gets every robot.
    refused = robofleet(["backup", "restore", "--data-dir", str(fleet.data_dir)],
                        {"ROBOFLEET_DATABASE_URL": ""})
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: robofleet up (pid ") and "--force" in refused.stderr
    forced = robofleet(["backup", "restore", "--data-dir", str(fleet.data_dir), "--force"],
                       {"ROBOFLEET_DATABASE_URL": ""})
    assert forced.returncode == 1 and forced.stderr.startswith("error: robofleet up (pid ")
    fresh = tmp_path / "fresh"
    restored = robofleet(["backup", "restore", "--backup-dir", str(backups),
                          "--data-dir", str(fresh)], {"ROBOFLEET_DATABASE_URL": ""})
    assert restored.returncode == 0, restored.stderr
    assert "restore drill took" in restored.stdout
    store = SqliteStore(fresh / "robofleet.db")
    await store.open()
    try:
        missing = [rid for rid in before if await store.get_robot(rid) is None]
    finally:
        await store.close()
    assert missing == []
    again = robofleet(["backup", "restore", "--backup-dir", str(backups),
                       "--data-dir", str(fresh)], {"ROBOFLEET_DATABASE_URL": ""})
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"error: {fresh / 'robofleet.db'} is not empty: restore into a fresh data dir, "
        "or add --force to replace it"
    )
    with gzip.open(find_backup(backups, None) / "robofleet.db.gz") as packed:
        assert packed.read(16) == b"SQLite format 3\x00"
