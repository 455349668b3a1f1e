"""Transitions per second through the store with 1 and 256 concurrent writers.

Each writer takes its share of robots through start then succeed, one ``apply`` call per
transition, so the figure shows what group commit buys when many robots finish at once.

    .venv/bin/python bench/store_commit.py [--robots 4000] [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from runtime import lifecycle
from runtime.models import Robot, new_robot_id
from runtime.store import PostgresStore, RobotStore, SqliteStore

DEFAULT_DSN = os.environ.get(
    "ROBOFLEET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def run_writers(store: RobotStore, robots: int, writers: int) -> tuple[float, int]:
    """Transitions per second and commits taken by ``writers`` concurrent writers."""
    batch = [Robot(id=new_robot_id(), type="bench") for _ in range(robots)]
    await store.create_robots(batch)
    commits_before = store.commits  # type: ignore[attr-defined]

    async def writer(share: list[Robot]) -> None:
        for robot in share:
            await store.apply([lifecycle.start(robot.id, 1, "bench", "bench-0")])
            await store.apply([lifecycle.succeed(robot.id, 1, {"ok": True})])

    started = time.perf_counter()
    await asyncio.gather(*(writer(batch[i::writers]) for i in range(writers)))
    elapsed = time.perf_counter() - started
    return 2 * robots / elapsed, store.commits - commits_before  # type: ignore[attr-defined]


async def bench(name: str, make: Callable[[], Awaitable[RobotStore]], robots: int) -> None:
    """Print the figure of one store with 1 and 256 writers."""
    for writers in (1, 256):
        store = await make()
        try:
            rate, commits = await run_writers(
                store, robots if writers > 1 else robots // 4, writers
            )
        finally:
            await store.close()
        print(f"{name:<10} writers={writers:<4} {rate:>10,.0f} transitions/s  ({commits} commits)")


async def main() -> None:
    """Run the store benchmark on SQLite (NORMAL, FULL) and PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=4000)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("NORMAL", "FULL"):

            async def make_sqlite(sync: str = sync) -> RobotStore:
                store = SqliteStore(Path(tmp) / f"bench-{uuid.uuid4().hex}.db", synchronous=sync)
                await store.open()
                return store

            await bench(f"sqlite/{sync.lower()}", make_sqlite, args.robots)

    schema = f"robofleet_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(args.dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"postgresql skipped: {args.dsn} unreachable ({exc})")
        return
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:

        async def make_pg() -> RobotStore:
            store = PostgresStore(args.dsn, server_settings={"search_path": schema})
            await store.open()
            return store

        await bench("postgresql", make_pg, args.robots)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
