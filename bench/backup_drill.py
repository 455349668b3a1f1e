"""A backup taken while robots run, restored into a fresh store, checked robot by robot.

Robots are accepted through the real store in batches and taken through their lifecycle;
while ``create_backup`` runs, a writer keeps submitting new robots and moving the earlier
ones on (queued -> running -> succeeded). The backup is then restored into a fresh store
(a new SQLite data dir, or a new PostgreSQL database) and every robot accepted before the
backup began must be there, in a state it held while the backup ran: no earlier than the
state read just before the backup began and no later than the one read just after it ended;
a robot that did not change meanwhile must come back exactly as it was, field by field.

    .venv/bin/python -m bench.backup_drill [--robots 5000] [--store sqlite|postgres|both]

prints the figures (robots, backup and restore seconds, writes during the backup).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from runtime import lifecycle
from runtime.backup import create_backup, find_backup, restore_backup
from runtime.backup.pg_tools import with_database
from runtime.backup.postgres_dump import create_database, drop_database
from runtime.config import Settings
from runtime.lifecycle import status_rank
from runtime.models import Robot, new_robot_id
from runtime.store import PostgresStore, RobotStore, SqliteStore

DEFAULT_DSN = os.environ.get(
    "ROBOFLEET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BATCH = 250


@dataclass
class DrillFigures:
    """What one drill measured and what it found wrong (``problems`` empty: it held)."""

    kind: str
    robots_before: int
    backup_s: float
    restore_s: float
    submitted_during: int
    moved_during: int
    robots_in_backup: int
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One printable line of figures."""
        verdict = (
            "every robot present as it was" if not self.problems
            else f"{len(self.problems)} problems, e.g. {self.problems[:3]}"
        )
        return (
            f"{self.kind}: {self.robots_before} robots accepted before the backup; backup took "
            f"{self.backup_s:.2f}s while {self.submitted_during} robots were submitted and "
            f"{self.moved_during} moved on; backup holds {self.robots_in_backup}; restore took "
            f"{self.restore_s:.2f}s; {verdict}"
        )


async def all_robots(store: RobotStore) -> dict[str, Robot]:
    """Every robot of a store by id (paged listing)."""
    found: dict[str, Robot] = {}
    cursor: str | None = None
    while True:
        page = await store.list_robots(limit=1000, cursor=cursor)
        found.update((r.id, r) for r in page.robots)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def accept_robots(store: RobotStore, n: int) -> list[Robot]:
    """Accept ``n`` robots in batches; start two thirds of them and finish a third."""
    robots = [Robot(id=new_robot_id(), type="echo", payload={"i": i}) for i in range(n)]
    for start in range(0, n, BATCH):
        await store.create_robots(robots[start : start + BATCH])
    started = robots[: 2 * n // 3]
    for start in range(0, len(started), BATCH):
        chunk = started[start : start + BATCH]
        await store.apply([lifecycle.start(r.id, 1, "echo", "module:echo:0") for r in chunk])
    finished = robots[: n // 3]
    for start in range(0, len(finished), BATCH):
        chunk = finished[start : start + BATCH]
        await store.apply([lifecycle.succeed(r.id, 1, {"ok": r.id}) for r in chunk])
    return robots


async def keep_robots_running(
    store: RobotStore, earlier: list[Robot], stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """Until ``stop``: submit batches of new robots and move earlier ones one step on."""
    queued = list(earlier[2 * len(earlier) // 3 :])
    running = list(earlier[len(earlier) // 3 : 2 * len(earlier) // 3])
    while not stop.is_set():
        fresh = [Robot(id=new_robot_id(), type="echo") for _ in range(50)]
        await store.create_robots(fresh)
        counts["submitted"] += len(fresh)
        moves = []
        if running:
            robot = running.pop()
            moves.append(lifecycle.succeed(robot.id, 1, {"ok": robot.id}))
        if queued:
            robot = queued.pop()
            moves.append(lifecycle.start(robot.id, 1, "echo", "module:echo:0"))
            running.insert(0, robot)
        if moves:
            counts["moved"] += sum(1 for took in await store.apply(moves) if took is True)
        await asyncio.sleep(0.005)


def compare(before: dict[str, Robot], restored: dict[str, Robot], after: dict[str, Robot],
            ids: list[str]) -> list[str]:
    """What is wrong with the restored robots among ``ids`` (empty: nothing)."""
    problems = []
    for rid in ids:
        got = restored.get(rid)
        if got is None:
            problems.append(f"{rid} missing")
            continue
        low, high = before[rid], after[rid]
        if not status_rank(low.status) <= status_rank(got.status) <= status_rank(high.status):
            problems.append(f"{rid} is {got.status}, was {low.status} then {high.status}")
        elif low.status == high.status and got.model_dump() != high.model_dump():
            problems.append(f"{rid} differs from the robot it was")
    return problems


async def drill(kind: str, robots: int, work_dir: Path, server_dsn: str = DEFAULT_DSN
                ) -> DrillFigures:
    """Run one drill on a fresh store of ``kind`` (sqlite or postgres) with ``robots``."""
    source_dsn = target_dsn = None
    if kind == "postgres":
        source_dsn = await create_database(server_dsn, f"robofleet_drill_{uuid.uuid4().hex[:10]}")
        target_dsn = with_database(server_dsn, f"robofleet_drill_{uuid.uuid4().hex[:10]}")
    settings = Settings(
        data_dir=work_dir / "data", database_url=source_dsn, backup_dir=work_dir / "backups"
    )
    store: RobotStore = (
        PostgresStore(source_dsn) if source_dsn
        else SqliteStore(work_dir / "data" / "robofleet.db")
    )
    (work_dir / "data").mkdir(parents=True, exist_ok=True)
    await store.open()
    try:
        earlier = await accept_robots(store, robots)
        before = await all_robots(store)
        stop = asyncio.Event()
        counts = {"submitted": 0, "moved": 0}
        writer = asyncio.create_task(keep_robots_running(store, earlier, stop, counts))
        await asyncio.sleep(0.05)  # the writer is under way before the backup begins
        started = time.monotonic()
        manifest = await asyncio.to_thread(create_backup, settings)
        backup_s = time.monotonic() - started
        await asyncio.sleep(0.05)
        stop.set()
        await writer
        after = await all_robots(store)
    finally:
        await store.close()
    started = time.monotonic()
    fresh = work_dir / "restored"
    await asyncio.to_thread(
        restore_backup, find_backup(settings.backups_dir(), manifest.id), fresh, target_dsn
    )
    restore_s = time.monotonic() - started
    restored_store: RobotStore = (
        PostgresStore(target_dsn) if target_dsn else SqliteStore(fresh / "robofleet.db")
    )
    await restored_store.open()
    try:
        restored = await all_robots(restored_store)
    finally:
        await restored_store.close()
        if source_dsn and target_dsn:
            for dsn in (source_dsn, target_dsn):
                await drop_database(server_dsn, dsn.rsplit("/", 1)[1])
    return DrillFigures(
        kind=kind,
        robots_before=len(earlier),
        backup_s=backup_s,
        restore_s=restore_s,
        submitted_during=counts["submitted"],
        moved_during=counts["moved"],
        robots_in_backup=manifest.robots_total,
        problems=compare(before, restored, after, [r.id for r in earlier]),
    )


def main() -> None:
    """Run the drill at full size and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=5000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server for the drill")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="robofleet-backup-drill-") as tmp:
            figures = asyncio.run(drill(kind, args.robots, Path(tmp), args.dsn))
        print(figures.line(), flush=True)


if __name__ == "__main__":
    main()
