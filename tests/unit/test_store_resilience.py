"""Store errors by kind, and what each kind leads to: retried, isolated or quarantined.

Driver errors are built as the drivers raise them (no server needed); the store is a real
SQLite file, and a value SQLite cannot hold (a lone surrogate, an integer past 64 bits, a
result nested past what orjson writes) stands for any value a database refuses.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import asyncpg.exceptions as pg
import pytest
from asyncpg.exceptions import _base as asyncpg_base
from prometheus_client import REGISTRY

from gateway.audit import AuditLog
from runtime.config import Settings
from runtime.errors import (
    StoreConflict,
    StoreDataError,
    StoreError,
    StoreUnavailable,
)
from runtime.keys import AuditEntry
from runtime.models import Robot, RobotStatus, new_robot_id
from runtime.store import PostgresStore, SqliteStore, create_store
from runtime.store._errors import StoreErrors, classify, translate
from runtime.store._writes import write_isolated
from runtime.store.group_commit import CommitInDoubt, GroupCommit

S = RobotStatus


def _sqlite_error(code: int, message: str = "x") -> sqlite3.Error:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), StoreUnavailable),
        (TimeoutError(), StoreUnavailable),
        (pg.ConnectionDoesNotExistError("connection was closed"), StoreUnavailable),
        (pg.AdminShutdownError("terminating connection"), StoreUnavailable),
        (pg.CannotConnectNowError("the database is starting up"), StoreUnavailable),
        (asyncpg_base.InternalClientError("cannot switch to state 12"), StoreUnavailable),
        (
            pg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
            StoreUnavailable,
        ),
        (pg.InterfaceError("pool is closed"), StoreUnavailable),
        (pg.CharacterNotInRepertoireError("invalid byte sequence: 0x00"), StoreDataError),
        (pg.ProgramLimitExceededError("index row size exceeds"), StoreDataError),
        (pg.NotNullViolationError("null value"), StoreDataError),
        (asyncpg_base.DataError("invalid input for query argument $1"), StoreDataError),
        (pg.DeadlockDetectedError("deadlock detected"), StoreConflict),
        (pg.SerializationError("could not serialize"), StoreConflict),
        (pg.UndefinedTableError("relation does not exist"), StoreError),
        (pg.InterfaceError("another operation is in progress"), StoreError),
        (_sqlite_error(5, "database is locked"), StoreUnavailable),  # SQLITE_BUSY
        (_sqlite_error(13, "database or disk is full"), StoreUnavailable),
        (_sqlite_error(2067, "UNIQUE constraint failed"), StoreConflict),
        (_sqlite_error(275, "CHECK constraint failed"), StoreDataError),
        (_sqlite_error(1, "syntax error"), StoreError),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), StoreDataError),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), StoreDataError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_each_driver_error_is_classed_by_kind(exc: BaseException, kind: type[StoreError]) -> None:
    assert classify(exc) is kind
    error = translate("postgresql", exc)
    assert type(error) is kind
    assert error.message.startswith("postgresql")


def test_an_unavailable_store_answers_503_with_retry_after_even_across_pickle() -> None:
    error = translate("postgresql", ConnectionRefusedError(111, "Connection refused"))
    assert (error.http_status, error.retry_after_s) == (503, 2.0)
    copy = pickle.loads(pickle.dumps(StoreUnavailable("gone", 5.0)))
    assert (copy.message, copy.retry_after_s) == ("gone", 5.0)


def test_a_translated_message_is_the_drivers_first_line_without_sql() -> None:
    exc = asyncpg.exceptions.CharacterNotInRepertoireError(
        'invalid byte sequence for encoding "UTF8": 0x00\nCONTEXT: INSERT INTO robots VALUES'
    )
    error = translate("postgresql", exc)
    assert error.message == (
        'postgresql cannot store this value: invalid byte sequence for encoding "UTF8": 0x00'
    )


def test_the_store_going_away_and_back_is_logged_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = StoreErrors("postgresql")
    with caplog.at_level(logging.DEBUG, logger="runtime.store._errors"):
        for _ in range(100):
            with pytest.raises(StoreUnavailable), errors.translated():
                raise ConnectionRefusedError(111, "Connection refused")
        assert not errors.available
        for _ in range(100):
            with errors.translated():
                pass
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "unavailable" in lines[0] and "available again" in lines[1]
    assert errors.available and errors.outages == 1
    assert not any(r.exc_info for r in caplog.records)


# -- group commit ----------------------------------------------------------------------


class FlakyBatches:
    """A commit function: refuses any batch holding "bad", and is down for ``down`` calls."""

    def __init__(self, down: int = 0, conflicts: int = 0) -> None:
        self.down = down
        self.conflicts = conflicts
        self.committed: list[list[str]] = []
        self.calls = 0

    async def __call__(self, ops: Sequence[str]) -> list[str]:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            self.down -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        if self.conflicts:
            self.conflicts -= 1
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        if "bad" in ops:
            raise asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00")
        self.committed.append(list(ops))
        return [op.upper() for op in ops]


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyBatches, GroupCommit[str]]]:
    batches = FlakyBatches()
    commit: GroupCommit[str] = GroupCommit(batches, name="test", retry_delay_s=(0.001, 0.01))
    commit.start()
    yield batches, commit
    await commit.close()


async def test_one_bad_operation_fails_alone_and_its_batch_commits(flaky) -> None:
    batches, commit = flaky
    ops = [f"op{i}" for i in range(50)]
    ops.insert(17, "bad")
    results = await asyncio.gather(*(commit.submit(op) for op in ops), return_exceptions=True)
    assert isinstance(results[17], StoreDataError)
    assert [r for i, r in enumerate(results) if i != 17] == [
        op.upper() for op in ops if op != "bad"
    ]
    assert sorted(op for batch in batches.committed for op in batch) == sorted(
        op for op in ops if op != "bad"
    )


async def test_an_unavailable_store_is_waited_for_and_nothing_is_dropped(flaky) -> None:
    batches, commit = flaky
    batches.down = 20
    results = await asyncio.gather(*(commit.submit(f"op{i}") for i in range(30)))
    assert results == [f"OP{i}" for i in range(30)]
    assert batches.down == 0


async def test_an_operation_with_a_wait_gets_store_unavailable_with_retry_after(flaky) -> None:
    batches, commit = flaky
    batches.down = 10_000
    waiting = asyncio.ensure_future(commit.submit("transition"))
    with pytest.raises(StoreUnavailable) as refused:
        await commit.submit("create", wait_unavailable_s=0.0)
    assert refused.value.retry_after_s > 0
    assert not waiting.done()  # the other keeps waiting for the store
    batches.down = 0
    assert await waiting == "TRANSITION"


def _cut_off_once(batches: FlakyBatches) -> Any:
    """A commit function whose first batch is cut off once it went out, then ``batches``."""
    calls = 0

    async def commit(ops: Sequence[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise CommitInDoubt(ConnectionResetError(104, "Connection reset by peer"))
        return await batches(ops)

    return commit


async def test_a_batch_in_doubt_keeps_even_a_caller_without_a_wait() -> None:
    batches = FlakyBatches(down=20)
    commit: GroupCommit[str] = GroupCommit(
        _cut_off_once(batches), name="test", retry_delay_s=(0.001, 0.01)
    )
    commit.start()
    try:
        assert await commit.submit("create", wait_unavailable_s=0.0) == "CREATE"
        assert batches.down == 0  # it outlasted the whole outage
    finally:
        await commit.close()


async def test_a_batch_in_doubt_fails_once_its_in_doubt_wait_is_over() -> None:
    batches = FlakyBatches(down=10_000)
    commit: GroupCommit[str] = GroupCommit(
        _cut_off_once(batches), name="test", retry_delay_s=(0.001, 0.01), in_doubt_wait_s=0.1
    )
    commit.start()
    try:
        with pytest.raises(StoreUnavailable):
            await commit.submit("create", wait_unavailable_s=0.0)
        assert batches.calls > 1  # tried again while in doubt
    finally:
        batches.down = 0
        await commit.close()


async def test_an_operation_queued_behind_a_stuck_batch_still_gets_its_503() -> None:
    batches = FlakyBatches(down=10_000)
    commit: GroupCommit[str] = GroupCommit(
        _cut_off_once(batches), name="test", retry_delay_s=(0.001, 0.01), in_doubt_wait_s=60
    )
    commit.start()
    try:
        in_doubt = asyncio.ensure_future(commit.submit("first", wait_unavailable_s=0.0))
        while batches.calls < 2:  # the first batch went out, was cut off and waits
            await asyncio.sleep(0.001)
        with pytest.raises(StoreUnavailable) as refused:
            await commit.submit("later", wait_unavailable_s=0.05)
        assert refused.value.retry_after_s > 0
        assert not in_doubt.done()  # the batch in doubt keeps waiting for the store
        batches.down = 0
        assert await in_doubt == "FIRST"
        assert [op for batch in batches.committed for op in batch] == ["FIRST".lower()]
    finally:
        batches.down = 0
        await commit.close()


async def test_a_lost_race_is_committed_again(flaky) -> None:
    batches, commit = flaky
    batches.conflicts = 2
    assert await commit.submit("op") == "OP"


async def test_write_isolated_splits_down_to_the_item_at_fault() -> None:
    written: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        if 13 in items or 40 in items:
            raise StoreDataError("cannot store this value")
        written.append(list(items))
        return [i * 2 for i in items]

    results = await write_isolated(list(range(64)), write)
    assert isinstance(results[13], StoreDataError) and isinstance(results[40], StoreDataError)
    assert [r for i, r in enumerate(results) if i not in (13, 40)] == [
        i * 2 for i in range(64) if i not in (13, 40)
    ]
    assert [i for batch in written for i in batch] == [i for i in range(64) if i not in (13, 40)]


# -- the SQLite store and the transition writer ----------------------------------------


def _robot(**fields: Any) -> Robot:
    return Robot(id=new_robot_id(), type="echo", payload={"n": 1}, **fields)


async def test_one_robot_the_store_cannot_hold_fails_only_itself(store: SqliteStore) -> None:
    robots = [_robot() for _ in range(60)]
    robots[23] = robots[23].model_copy(update={"idempotency_key": "key-\ud800"})
    robots[41] = robots[41].model_copy(update={"payload": {"n": 2**70}})
    stored = await store.create_robots(robots)
    assert isinstance(stored[23], StoreDataError) and isinstance(stored[41], StoreDataError)
    for i, robot in enumerate(robots):
        if i in (23, 41):
            assert await store.get_robot(robot.id) is None
        else:
            assert stored[i] == robot
            assert await store.get_robot(robot.id) == robot


# -- the audit writer --------------------------------------------------------------------


class AuditShelf:
    """A store's audit half: refuses a batch holding a NUL, or everything while ``down``."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.down = False

    async def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        if self.down:
            raise StoreUnavailable("postgresql store unavailable: connection refused")
        if any("\x00" in (e.target or "") for e in entries):
            raise StoreDataError("postgresql cannot store this value: invalid byte sequence")
        self.entries.extend(entries)


def _quarantined() -> float:
    return REGISTRY.get_sample_value("robofleet_audit_quarantined_total") or 0.0


def _entry(target: str) -> AuditEntry:
    return AuditEntry(
        id=new_robot_id(),
        at=0.0,
        request_id="r",
        actor="anonymous",
        action="POST /v1/robots/{robot_id}/cancel",
        target=target,
        outcome="unauthenticated",
        status=401,
    )


async def test_an_audit_entry_that_cannot_be_written_is_quarantined_not_retried_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shelf = AuditShelf()
    audit = AuditLog(shelf, flush_s=0.0)  # type: ignore[arg-type]
    before = _quarantined()
    poisoned = _entry("a\x00b")
    behind = [_entry(f"key-{i}") for i in range(9)]
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        audit.record(poisoned)
        for entry in behind:
            audit.record(entry)
        await audit.flush()
        later = _entry("key-revoked")
        audit.record(later)
        await audit.flush()
    assert shelf.entries == [*behind, later]
    assert [entry for entry, _ in audit.quarantined] == [poisoned]
    assert _quarantined() == before + 1
    assert len(caplog.records) == 1 and "quarantined" in caplog.records[0].getMessage()
    assert "\x00" not in caplog.text


async def test_audit_entries_wait_quietly_for_an_unavailable_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shelf = AuditShelf()
    shelf.down = True
    audit = AuditLog(shelf, flush_s=0.0)  # type: ignore[arg-type]
    entries = [_entry(f"key-{i}") for i in range(5)]
    with caplog.at_level(logging.DEBUG, logger="gateway.audit"):
        for entry in entries:
            audit.record(entry)
        for _ in range(10):
            await audit.flush()
        assert shelf.entries == []
        shelf.down = False
        await audit.flush()
    assert shelf.entries == entries
    assert caplog.records == []


def test_the_pooler_setting_reaches_the_postgresql_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOFLEET_DATABASE_URL", "postgresql://robofleet@db.example/robofleet")
    monkeypatch.setenv("ROBOFLEET_DATABASE_STATEMENT_CACHE_SIZE", "0")
    built = create_store(Settings())
    assert isinstance(built, PostgresStore)
    assert built._statement_cache_size == 0  # what asyncpg's pools are created with
