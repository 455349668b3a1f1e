"""One value a store cannot hold fails only its own robot, on real PostgreSQL and SQLite.

The gateway refuses such values at input; these tests hand them to the store directly (as
a client of the store API, past the model's validation), the way a value no check foresaw
would arrive, and check that every other robot of the commit is stored and runs.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from actors.writer import TransitionWriter
from runtime import lifecycle
from runtime.errors import StoreDataError
from runtime.models import Robot, RobotStatus, new_robot_id
from runtime.store import PostgresStore, RobotStore
from tests.integration.test_store_contract import (  # noqa: F401 (fixtures)
    open_backend,
    pg_dsn,
    store,
    unreachable,
)

S = RobotStatus


def _robot(**fields: Any) -> Robot:
    return Robot(id=new_robot_id(), type="echo", payload={"n": 1}, **fields)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_one_unstorable_robot_among_200_fails_alone(store: RobotStore) -> None:  # noqa: F811
    robots = [_robot(idempotency_key=f"order-{i}") for i in range(200)]
    # A NUL (PostgreSQL refuses it in text) or an integer past 64 bits (both refuse it).
    robots[57] = robots[57].model_copy(update={"idempotency_key": "order-\x00-57"})
    robots[58] = robots[58].model_copy(update={"payload": {"n": 2**70}})
    stored = await store.create_robots(robots)
    assert isinstance(stored[58], StoreDataError)
    if isinstance(store, PostgresStore):
        assert isinstance(stored[57], StoreDataError)
        assert "0x00" in stored[57].message  # the database's reason, no SQL
        bad = {57, 58}
    else:  # SQLite holds a NUL
        bad = {58}
    for i, robot in enumerate(robots):
        if i in bad:
            assert await store.get_robot(robot.id) is None
        else:
            assert stored[i] == robot
            assert await store.get_robot(robot.id) == robot


async def test_an_unstorable_outcome_fails_only_its_robot_with_the_reason(
    store: RobotStore,  # noqa: F811
) -> None:
    robots = [_robot() for _ in range(30)]
    await store.create_robots(robots)
    writer = TransitionWriter(store)
    writer.start()
    try:
        starts = [lifecycle.start(r.id, 1, "echo", "module:echo:0") for r in robots]
        assert await writer.write(starts) == [True] * 30
        outcomes = [lifecycle.succeed(r.id, 1, {"i": i}) for i, r in enumerate(robots)]
        outcomes[11] = lifecycle.succeed(robots[11].id, 1, _deep(300))  # past orjson's depth
        outcomes[9] = lifecycle.succeed(robots[9].id, 1, {"big": 2**70})  # past 64 bits
        assert await writer.write(outcomes) == [True] * 30
    finally:
        await writer.stop()
    assert writer.replaced == 2
    for i, robot in enumerate(robots):
        row = await store.get_robot(robot.id)
        assert row is not None
        if i in (9, 11):
            assert row.status is S.FAILED
            assert row.error is not None and "could not record this robot" in row.error
            assert [a.status for a in await store.attempts(robot.id)] == [S.FAILED]
        else:
            assert (row.status, row.result) == (S.SUCCEEDED, {"i": i})


async def test_postgresql_without_prepared_statement_cache_as_behind_pgbouncer() -> None:
    """``statement_cache_size=0`` (what a pooler in transaction mode needs) still serves."""
    dsn = pg_dsn()
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unreachable(f"PostgreSQL at {dsn} is unreachable ({exc})")
    schema = f"robofleet_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pooled = PostgresStore(dsn, server_settings={"search_path": schema}, statement_cache_size=0)
    try:
        await pooled.open()
        robots = [_robot() for _ in range(20)]
        assert await pooled.create_robots(robots) == robots
        starts = [lifecycle.start(r.id, 1, "echo", "module:echo:0") for r in robots]
        assert await pooled.apply(starts) == [True] * 20
        assert (await pooled.get_robot(robots[3].id)).status is S.RUNNING  # type: ignore[union-attr]
        assert len((await pooled.list_robots(status=S.RUNNING)).robots) == 20
    finally:
        await pooled.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
