"""One contract, two backends: SQLite in a temporary directory and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from runtime import lifecycle
from runtime.config import Settings
from runtime.errors import StoreError, StoreUnavailable
from runtime.keys import AuditEntry, Role, accepted_entry, hash_key, new_api_key
from runtime.lifecycle import Transition
from runtime.messages import AuditCaller, Progress
from runtime.models import FiringOutcome, ModuleSpec, Robot, RobotStatus, RuleFiring, new_robot_id
from runtime.rules.model import Rule, RuleRecord, ScheduleState
from runtime.rules.watches import derived_id
from runtime.store import (
    PostgresStore,
    RobotStore,
    SqliteStore,
    create_store,
    open_store,
)

S = RobotStatus
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

OpenStore = Callable[[], Awaitable[RobotStore]]


def pg_dsn() -> str:
    return os.environ.get("ROBOFLEET_TEST_DATABASE_URL", DEFAULT_PG_DSN)


def unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
async def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Open as many stores as a test wants, all on one fresh database; close them after."""
    opened: list[RobotStore] = []
    admin: asyncpg.Connection | None = None
    schema = f"robofleet_test_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":

        def make() -> RobotStore:
            return SqliteStore(tmp_path / "robofleet.db")
    else:
        dsn = pg_dsn()
        try:
            admin = await asyncpg.connect(dsn, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            unreachable(
                f"PostgreSQL at {dsn} is unreachable ({exc}); set ROBOFLEET_TEST_DATABASE_URL"
            )
        assert admin is not None
        await admin.execute(f'CREATE SCHEMA "{schema}"')

        def make() -> RobotStore:
            return PostgresStore(dsn, server_settings={"search_path": schema}, read_pool_size=2)

    async def open_one() -> RobotStore:
        store = make()
        await store.open()
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()
        if admin is not None:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


@pytest.fixture
async def store(open_backend: OpenStore) -> RobotStore:
    return await open_backend()


def robot(robot_id: str | None = None, **fields: object) -> Robot:
    return Robot(
        id=robot_id or new_robot_id(),
        type=fields.pop("type", "echo"),
        payload={"n": 1, "text": "héllo"},
        **fields,
    )


async def run(store: RobotStore, robot_id: str, module: str = "m", replica: str = "m-0") -> None:
    assert await store.apply([lifecycle.start(robot_id, 1, module, replica)]) == [True]


async def test_create_and_get(store: RobotStore) -> None:
    r = robot(priority=7, deadline=123.5, max_attempts=4, timeout_s=9.5)
    assert await store.create_robots([r]) == [r]
    assert await store.get_robot(r.id) == r
    assert await store.get_robot("missing") is None


async def test_create_same_id_twice_returns_stored(store: RobotStore) -> None:
    first = robot()
    await store.create_robots([first])
    again = first.model_copy(update={"payload": {"other": True}})
    assert await store.create_robots([again]) == [first]
    assert (await store.get_robot(first.id)) == first


async def test_create_writes_the_audit_entry_of_each_robot_it_inserts(store: RobotStore) -> None:
    caller = AuditCaller("req-1", "key-a", "10.0.0.9", "POST /v1/robots")
    fresh, repeat, unaudited = robot(), robot(idempotency_key="order-7"), robot()
    await store.create_robots([robot(idempotency_key="order-7")])
    audit = [accepted_entry(fresh.id, caller), accepted_entry(repeat.id, caller), None]
    stored = await store.create_robots([fresh, repeat, unaudited], audit)
    assert stored[0] == fresh and stored[2] == unaudited and stored[1].id != repeat.id
    await store.create_robots([fresh], [accepted_entry(fresh.id, caller)])  # a retried call
    entries = (await store.list_audit()).entries
    assert [
        (e.target, e.request_id, e.actor, e.client, e.action, e.outcome, e.status) for e in entries
    ] == [(fresh.id, "req-1", "key-a", "10.0.0.9", "POST /v1/robots", "ok", 202)]


async def test_concurrent_creates_sharing_keys_in_opposite_order_both_succeed(
    store: RobotStore,
) -> None:
    for round_ in range(30):
        keys = [f"pair-{round_}-{i}" for i in range(40)]
        forward = [robot(idempotency_key=k) for k in keys]
        backward = [robot(idempotency_key=k) for k in reversed(keys)]
        first = asyncio.ensure_future(store.create_robots(forward))
        for _ in range(3):  # one flusher takes it, so the next goes on a flusher of its own
            await asyncio.sleep(0)
        two = await store.create_robots(backward)
        one = await first
        by_key = {r.idempotency_key: r.id for r in one}
        assert {r.idempotency_key: r.id for r in two} == by_key  # one robot per key


async def test_idempotency_key_dedup(store: RobotStore) -> None:
    first = robot(idempotency_key="order-42")
    assert await store.create_robots([first]) == [first]
    later = robot(idempotency_key="order-42")
    assert await store.create_robots([later]) == [first]
    assert await store.get_robot(later.id) is None
    a, b, c = robot(idempotency_key="k2"), robot(idempotency_key="k2"), robot()
    assert await store.create_robots([a, b, c]) == [a, a, c]


async def test_conditional_transitions(store: RobotStore) -> None:
    r = robot()
    await store.create_robots([r])
    await run(store, r.id)
    stale = Transition(r.id, 2, S.RUNNING, S.SUCCEEDED, fields={"result": 1})
    wrong_status = lifecycle.cancel(r.id, 1, S.QUEUED, "nope")
    assert await store.apply([stale, wrong_status]) == [False, False]
    stored = await store.get_robot(r.id)
    assert stored is not None and stored.status is S.RUNNING and stored.attempt == 1


async def test_terminal_exactly_once_under_race(store: RobotStore) -> None:
    robots = [robot() for _ in range(20)]
    await store.create_robots(robots)
    for r in robots:
        await run(store, r.id)
    outcomes = await asyncio.gather(
        *(
            store.apply([t])
            for r in robots
            for t in (
                lifecycle.succeed(r.id, 1, {"ok": True}),
                lifecycle.cancel(r.id, 1, S.RUNNING, "client"),
            )
        )
    )
    for i, r in enumerate(robots):
        won = [outcomes[2 * i][0], outcomes[2 * i + 1][0]]
        assert won.count(True) == 1
        stored = await store.get_robot(r.id)
        assert stored is not None
        assert stored.status is (S.SUCCEEDED if won[0] else S.CANCELLED)
        assert [a.status for a in await store.attempts(r.id)] == [stored.status]


async def test_start_and_finish_in_one_batch(store: RobotStore) -> None:
    one, two = robot(), robot()
    await store.create_robots([one, two])
    assert await store.apply(
        [
            lifecycle.start(one.id, 1, "m", "m-0"),
            lifecycle.succeed(one.id, 1, [1, 2, 3]),
        ]
    ) == [True, True]
    separate = await asyncio.gather(
        store.apply([lifecycle.start(two.id, 1, "m", "m-1")]),
        store.apply([lifecycle.succeed(two.id, 1, "done")]),
    )
    assert separate == [[True], [True]]
    for r, result in ((one, [1, 2, 3]), (two, "done")):
        stored = await store.get_robot(r.id)
        assert stored is not None
        assert (stored.status, stored.result, stored.progress) == (S.SUCCEEDED, result, 1.0)
        assert len(await store.attempts(r.id)) == 1


async def test_requeue_increments_attempt_and_records_attempt(store: RobotStore) -> None:
    r = robot()
    await store.create_robots([r])
    await run(store, r.id, "m", "m-3")
    started = await store.get_robot(r.id)
    assert started is not None and started.started_at is not None
    retry = lifecycle.give_up_or_retry(r.id, 1, 3, "lost replica", retryable=True, backoff=False)
    assert await store.apply([retry]) == [True]
    requeued = await store.get_robot(r.id)
    assert requeued is not None
    assert (requeued.status, requeued.attempt, requeued.replica, requeued.error) == (
        S.QUEUED,
        2,
        None,
        "lost replica",
    )
    [attempt] = await store.attempts(r.id)
    assert (attempt.attempt, attempt.module, attempt.replica, attempt.status, attempt.error) == (
        1,
        "m",
        "m-3",
        S.QUEUED,
        "lost replica",
    )
    assert attempt.started_at == started.started_at and attempt.finished_at == retry.at
    assert await store.apply(
        [lifecycle.start(r.id, 2, "m", "m-4"), lifecycle.succeed(r.id, 2, None)]
    ) == [True, True]
    assert [(a.attempt, a.replica, a.status, a.error) for a in await store.attempts(r.id)] == [
        (1, "m-3", S.QUEUED, "lost replica"),
        (2, "m-4", S.SUCCEEDED, None),
    ]


async def test_listing_walks_every_robot_once_newest_first(store: RobotStore) -> None:
    robots = [robot(f"{i:024x}", type="a" if i % 2 else "b") for i in range(1, 26)]
    await store.create_robots(robots)
    for r in robots[::3]:
        await run(store, r.id)

    async def walk(**filters: object) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list_robots(limit=4, cursor=cursor, **filters)  # type: ignore[arg-type]
            assert len(page.robots) <= 4
            seen += [r.id for r in page.robots]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    newest_first = [r.id for r in reversed(robots)]
    assert await walk() == newest_first
    assert await walk(robot_type="a") == [i for i in newest_first if int(i, 16) % 2]
    running = {r.id for r in robots[::3]}
    assert await walk(status=S.RUNNING) == [i for i in newest_first if i in running]
    assert await walk(status=S.QUEUED, robot_type="b") == [
        i for i in newest_first if i not in running and not int(i, 16) % 2
    ]
    assert (await store.list_robots(robot_type="none")).robots == []


async def test_unfinished_robots_survive_restart(open_backend: OpenStore) -> None:
    first = await open_backend()
    queued, running, done = robot(), robot(), robot()
    await first.create_robots([queued, running, done])
    await run(first, running.id)
    await run(first, done.id)
    await first.apply([lifecycle.succeed(done.id, 1, None)])
    await first.close()
    restarted = await open_backend()
    unfinished = {r.id: r.status for r in await restarted.unfinished_robots()}
    assert unfinished == {queued.id: S.QUEUED, running.id: S.RUNNING}


async def test_progress_saved_for_current_attempt_only(store: RobotStore) -> None:
    r, waiting = robot(), robot()
    await store.create_robots([r, waiting])
    await run(store, r.id)
    await store.save_progress(
        [
            Progress(r.id, 1, 0.25, "quarter"),
            Progress(r.id, 1, 0.5, "half"),
            Progress(r.id, 2, 0.9, "stale attempt"),
            Progress(waiting.id, 1, 0.9, "not running"),
        ]
    )
    stored, idle = await store.get_robot(r.id), await store.get_robot(waiting.id)
    assert stored is not None and (stored.progress, stored.message) == (0.5, "half")
    assert idle is not None and (idle.progress, idle.message) == (0.0, None)


async def test_attempt_counts(store: RobotStore) -> None:
    robots = [robot() for _ in range(5)]
    await store.create_robots(robots)
    placement = [("m", "m-0"), ("m", "m-0"), ("m", "m-0"), ("m", "m-1"), ("other", "o-0")]
    for r, (module, replica) in zip(robots, placement, strict=True):
        await run(store, r.id, module, replica)
        await store.apply([lifecycle.succeed(r.id, 1, None)])
    assert await store.attempt_counts("m") == {"m-0": 3, "m-1": 1}
    assert await store.attempt_counts("absent") == {}


async def test_modules_save_list_delete(store: RobotStore) -> None:
    spec = ModuleSpec.model_validate(
        {
            "name": "ocr",
            "class": "pkg.mod:Ocr",
            "types": ["ocr"],
            "resources": {"CPU": 1.0},
            "options": {"lang": "eng"},
        }
    )
    await store.save_module(spec)
    await store.save_module(spec.model_copy(update={"name": "alpha"}))
    assert [m.name for m in await store.list_modules()] == ["alpha", "ocr"]
    scaled = spec.model_copy(update={"replicas": 4})
    await store.save_module(scaled)
    assert (await store.list_modules())[1] == scaled
    await store.delete_module("ocr")
    await store.delete_module("never-registered")
    assert [m.name for m in await store.list_modules()] == ["alpha"]


async def test_group_commit_batches_concurrent_writers(store: RobotStore) -> None:
    robots = [robot() for _ in range(500)]
    await store.create_robots(robots)
    before = store.commits  # type: ignore[attr-defined]
    results = await asyncio.gather(
        *(store.apply([lifecycle.start(r.id, 1, "m", f"m-{i % 7}")]) for i, r in enumerate(robots))
    )
    assert results == [[True]] * 500
    assert store.commits - before <= 25  # type: ignore[attr-defined]


async def test_failing_write_does_not_fail_its_batch(store: RobotStore) -> None:
    running, queued = robot(), robot()
    await store.create_robots([running, queued])
    await run(store, running.id)
    good, bad = await asyncio.gather(
        store.apply([lifecycle.start(queued.id, 1, "m", "m-0")]),
        store.save_progress([Progress(running.id, 1, None, "null progress")]),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert good == [True]
    assert isinstance(bad, StoreError)


async def test_two_stores_share_one_database(open_backend: OpenStore) -> None:
    a, b = await asyncio.gather(open_backend(), open_backend())
    robots = [robot() for _ in range(30)]
    await a.create_robots(robots)
    assert await b.get_robot(robots[0].id) == robots[0]
    for r in robots:
        await run(b, r.id)
    outcomes = await asyncio.gather(
        *(
            s.apply([t])
            for r in robots
            for s, t in (
                (a, lifecycle.succeed(r.id, 1, None)),
                (b, lifecycle.cancel(r.id, 1, S.RUNNING, "client")),
            )
        )
    )
    for i in range(len(robots)):
        assert [outcomes[2 * i][0], outcomes[2 * i + 1][0]].count(True) == 1
    assert await a.unfinished_robots() == []


async def test_unknown_transition_field_is_rejected(store: RobotStore) -> None:
    r = robot()
    await store.create_robots([r])
    bad = Transition(r.id, 1, S.QUEUED, S.RUNNING, fields={"status": "succeeded"})
    with pytest.raises(StoreError, match="unknown field"):
        await store.apply([bad])


async def test_closed_store_refuses_writes(store: RobotStore) -> None:
    await store.close()
    with pytest.raises(StoreError):
        await store.create_robots([robot()])


async def test_api_keys_create_find_list(store: RobotStore) -> None:
    secret, admin = new_api_key(Role.ADMIN, name="first", now=100.0)
    _, viewer = new_api_key(Role.VIEWER, ["echo", "ocr"], expires_in_s=60, now=200.0)
    assert await store.create_api_key(admin) is True
    assert await store.create_api_key(viewer) is True
    assert await store.api_key_by_hash(hash_key(secret)) == admin
    assert await store.api_key_by_hash(hash_key("rf_nope")) is None
    assert await store.get_api_key(viewer.id) == viewer
    assert await store.get_api_key("missing") is None
    assert await store.list_api_keys() == [admin, viewer]
    with pytest.raises(StoreError):  # the hash is unique
        await store.create_api_key(admin.model_copy(update={"id": "other"}))


async def test_first_api_key_is_created_once(open_backend: OpenStore) -> None:
    a, b = await asyncio.gather(open_backend(), open_backend())
    keys = [new_api_key(Role.ADMIN)[1] for _ in range(6)]
    created = await asyncio.gather(
        *(s.create_api_key(k, only_if_none=True) for s, k in zip([a, b] * 3, keys, strict=True))
    )
    assert sum(created) == 1
    assert len(await a.list_api_keys()) == 1
    assert await a.create_api_key(new_api_key(Role.VIEWER)[1]) is True


async def test_api_key_revoke_and_rotate(store: RobotStore) -> None:
    _, old = new_api_key(Role.OPERATOR, ["echo"])
    await store.create_api_key(old)
    _, new = new_api_key(Role.OPERATOR, ["echo"], rotated_from=old.id)
    assert await store.rotate_api_key(old.id, new, overlap_until=5000.0) is True
    stored_old, stored_new = await store.get_api_key(old.id), await store.get_api_key(new.id)
    assert stored_old is not None and stored_old.overlap_until == 5000.0
    assert stored_new == new and stored_new.rotated_from == old.id
    assert await store.revoke_api_key(old.id, at=6000.0) is True
    assert await store.revoke_api_key(old.id, at=7000.0) is False
    assert await store.revoke_api_key("missing", at=1.0) is False
    revoked = await store.get_api_key(old.id)
    assert revoked is not None and revoked.revoked_at == 6000.0
    _, newer = new_api_key(Role.OPERATOR)
    assert await store.rotate_api_key(old.id, newer, 9000.0) is False  # revoked: nothing written
    assert await store.rotate_api_key("missing", newer, 9000.0) is False
    assert await store.get_api_key(newer.id) is None


async def test_audit_append_and_page(store: RobotStore) -> None:
    entries = [
        AuditEntry(
            id=f"{i:024x}",
            at=1000.0 + i,
            request_id=f"req-{i}",
            actor="key-a" if i % 2 else "anonymous",
            client="127.0.0.1",
            action="POST /v1/robots",
            target=f"robot-{i}",
            outcome="ok" if i % 2 else "unauthenticated",
            status=202 if i % 2 else 401,
            detail=None if i % 2 else "unknown API key",
        )
        for i in range(1, 8)
    ]
    await store.record_audit(entries[:3])
    await store.record_audit(entries[3:])
    await store.record_audit(entries[:1])  # a replayed batch is not written twice
    seen, cursor = [], None
    while True:
        page = await store.list_audit(limit=3, cursor=cursor)
        seen += page.entries
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(entries))
    by_a = await store.list_audit(actor="key-a")
    assert [e.id for e in by_a.entries] == [e.id for e in reversed(entries) if e.actor == "key-a"]


async def test_unreachable_postgres_is_store_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=2)
    with pytest.raises(StoreUnavailable):
        await store.open()


async def test_unopenable_sqlite_file_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = SqliteStore(tmp_path / "file" / "robofleet.db")
    with pytest.raises(StoreUnavailable):
        await store.open()


async def test_open_store_picks_sqlite_without_database_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    store = await open_store(settings)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "data" / "robofleet.db" and store.path.exists()
    finally:
        await store.close()
    assert isinstance(create_store(Settings(database_url=pg_dsn())), PostgresStore)


# -- rules, schedules and chains (migration 0004) ---------------------------------------


def _schedule_record(rule_id: str = "tick") -> RuleRecord:
    rule = Rule.model_validate(
        {
            "id": rule_id,
            "on": {"schedule": {"every_s": 2, "timezone": "Europe/Madrid"}},
            "do": {"submit": {"type": "echo", "map": {"slot": "slot"}}},
        }
    )
    return RuleRecord(rule=rule, created_at=100.0, state=ScheduleState(decided_until=100.0))


async def test_rules_save_replace_list_delete(store: RobotStore) -> None:
    record = _schedule_record()
    assert await store.save_rule(record) is True
    assert await store.save_rule(record) is False  # the id is taken
    moved = ScheduleState(decided_until=104.0, fired=2, skipped={"overlap": 1})
    assert await store.advance_schedule("tick", 0, moved, [], []) == []
    changed = record.model_copy(update={"origin": "config"})
    changed.rule.on.schedule.every_s = 4  # type: ignore[union-attr]
    assert await store.save_rule(changed, replace=True) is True
    [stored] = await store.list_rules()
    assert stored.origin == "config" and stored.rule.on.schedule.every_s == 4  # type: ignore[union-attr]
    assert stored.state == ScheduleState(
        decided_until=104.0, version=1, fired=2, skipped={"overlap": 1}
    )  # replacing the spec keeps the schedule's cursor and counts
    assert await store.get_rule("tick") == stored
    assert await store.delete_rule("tick") is True
    assert await store.delete_rule("tick") is False
    assert await store.get_rule("tick") is None


async def test_advance_schedule_is_conditional_and_writes_robots_and_firings_once(
    store: RobotStore,
) -> None:
    await store.save_rule(_schedule_record())
    slot_robot = robot(idempotency_key="rule:tick:slot:102.000", rule_id="tick")
    fired = RuleFiring(
        id=new_robot_id(),
        rule_id="tick",
        at=102.5,
        source="slot:102.000",
        outcome=FiringOutcome.FIRED,
        robot_id=slot_robot.id,
    )
    state = ScheduleState(decided_until=102.0, fired=1)
    assert await store.advance_schedule("tick", 0, state, [slot_robot], [fired]) == [slot_robot]
    # A second writer holding the old version writes nothing at all.
    again = robot(idempotency_key="rule:tick:slot:102.000", rule_id="tick")
    assert await store.advance_schedule("tick", 0, state, [again], [fired]) is None
    assert await store.get_robot(again.id) is None
    # The same slot's key at the next version finds the first robot, not a second one.
    [found] = await store.advance_schedule("tick", 1, state, [again], []) or [None]
    assert found is not None and found.id == slot_robot.id
    assert [f.source for f in await store.list_firings("tick")] == ["slot:102.000"]
    assert (await store.get_rule("tick")).state.version == 2  # type: ignore[union-attr]


async def test_a_chain_step_is_stored_only_with_the_transition_that_applies(
    store: RobotStore,
) -> None:
    parent = robot()
    await store.create_robots([parent])
    await run(store, parent.id)
    steps = []
    for _ in range(2):  # two settlements of one attempt: only one can apply
        child = robot(parent_id=parent.id, rule_id="next", idempotency_key=f"rule:next:{parent.id}")
        t = lifecycle.succeed(parent.id, 1, {"x": 1})
        t.children.append(child)
        t.fields["children"] = [child.id]
        t.firings.append(
            RuleFiring(
                id=new_robot_id(),
                rule_id="next",
                at=1.0,
                source=parent.id,
                outcome=FiringOutcome.FIRED,
                robot_id=child.id,
            )
        )
        steps.append((t, child))
    assert await store.apply([t for t, _ in steps]) == [True, False]
    stored = await store.get_robot(parent.id)
    assert stored is not None and stored.children == [steps[0][1].id]
    child = await store.get_robot(steps[0][1].id)
    assert child is not None and child.parent_id == parent.id and child.status is S.QUEUED
    assert await store.get_robot(steps[1][1].id) is None
    assert len(await store.list_firings("next")) == 1
    assert [r.id for r in await store.unfinished_robots()] == [child.id]


async def test_firings_page_newest_first(store: RobotStore) -> None:
    firings = [
        RuleFiring(
            id=new_robot_id(),
            rule_id="q",
            at=float(i),
            source=f"queue:t:{i}",
            outcome=FiringOutcome.SKIPPED,
            detail="overlap",
        )
        for i in range(5)
    ]
    await store.record_firings(firings)
    first = await store.list_firings("q", limit=3)
    rest = await store.list_firings("q", limit=3, cursor=first[-1].id)
    assert [f.id for f in first + rest] == sorted((f.id for f in firings), reverse=True)


async def test_a_firing_recorded_twice_is_stored_once(store: RobotStore) -> None:
    """Running and metric rules record a firing again after a failed write or a restart,
    with the id derived from (rule, source, outcome): the store keeps one row."""
    source = "running:r1:1"
    firing = RuleFiring(
        id=derived_id(10.0, "slow", source, "fired"),
        rule_id="slow",
        at=10.0,
        source=source,
        outcome=FiringOutcome.FIRED,
    )
    await store.record_firings([firing])
    await store.record_firings([firing.model_copy(update={"detail": "again"})])
    resolved = firing.model_copy(
        update={
            "id": derived_id(11.0, "slow", source, "resolved"),
            "at": 11.0,
            "outcome": FiringOutcome.RESOLVED,
        }
    )
    await store.record_firings([resolved])
    assert await store.list_firings("slow") == [resolved, firing]
