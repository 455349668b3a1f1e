"""The embedded store: one SQLite file in WAL mode, written by one dedicated thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from runtime.errors import StoreError
from runtime.keys import ApiKey, AuditEntry
from runtime.models import Attempt, ModuleSpec, Robot, RuleFiring
from runtime.route_record import AttemptRoute, route_from_row
from runtime.rules.model import ScheduleState
from runtime.store import _codec as c
from runtime.store._errors import StoreErrors
from runtime.store._keyset import KeysetPages, sqlite_placeholder
from runtime.store._outbox import DELIVERY_COLUMNS
from runtime.store._pages import with_placeholders
from runtime.store._rules import ADVANCE_SCHEDULE
from runtime.store._writes import GroupCommitWrites
from runtime.store.base import RobotStore
from runtime.store.group_commit import GroupCommit
from runtime.store.migrate import APPLIED_SQL, apply_migrations

T = TypeVar("T")

_INSERT_ROBOT = (
    f"INSERT INTO robots ({c.ROBOT_SELECT}) "
    f"VALUES ({', '.join('?' * len(c.ROBOT_COLUMN_NAMES))}) ON CONFLICT DO NOTHING"
)
_ROBOT_BY_ID = f"SELECT {c.ROBOT_SELECT} FROM robots WHERE id = ?"
_ROBOT_BY_KEY = f"SELECT {c.ROBOT_SELECT} FROM robots WHERE idempotency_key = ?"
# Runs before the update so it records module, replica and started_at as they were.
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (robot_id, attempt, module, replica, status, error, started_at, "
    "finished_at, routing) SELECT id, attempt, module, replica, ?, "
    "CASE WHEN ? THEN ? ELSE error END, started_at, ?, routing FROM robots "
    "WHERE id = ? AND attempt = ? AND status = ? "
    "ON CONFLICT DO NOTHING"
)
_ROUTES = c.routes_sql("?", "?")
_SAVE_PROGRESS = (
    "UPDATE robots SET progress = ?, message = ? "
    f"WHERE id = ? AND attempt = ? AND status = '{c.RUNNING}'"
)
_INSERT_FIRING = (
    f"INSERT INTO rule_firings ({c.FIRING_SELECT}) "
    f"VALUES ({', '.join('?' * len(c.FIRING_COLUMN_NAMES))}) ON CONFLICT DO NOTHING"
)
_INSERT_DELIVERY = (
    f"INSERT INTO notifications ({', '.join(n for n, _ in DELIVERY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(DELIVERY_COLUMNS))}) ON CONFLICT DO NOTHING"
)
_ADVANCE_SCHEDULE = with_placeholders(ADVANCE_SCHEDULE, sqlite_placeholder)
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_INSERT_KEY = (
    f"INSERT INTO api_keys ({c.KEY_SELECT}) VALUES ({', '.join('?' * len(c.KEY_COLUMN_NAMES))})"
)
_INSERT_AUDIT = (
    f"INSERT INTO audit_log ({c.AUDIT_SELECT}) "
    f"VALUES ({', '.join('?' * len(c.AUDIT_COLUMN_NAMES))}) ON CONFLICT DO NOTHING"
)


class SqliteStore(GroupCommitWrites, KeysetPages, RobotStore):
    """A :class:`RobotStore` in one SQLite file, safe to open from several processes.

    All writes go through one dedicated thread and are group-committed; reads use a second
    connection on a thread of their own, so they never wait behind a commit. ``BEGIN
    IMMEDIATE`` and ``busy_timeout`` let another process (a gateway reading, a second
    writer) share the file.
    """

    _backend = "sqlite"
    _create_wait_s = 0.0

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "NORMAL",
        *,
        busy_timeout_s: float = 10.0,
        max_batch: int = 512,
    ) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout_s = busy_timeout_s
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._errors = StoreErrors("sqlite")
        # A busy or full file is retried until it serves again; a create, whose client is
        # waiting, gives up after the busy timeout it already waited (503 + Retry-After).
        self._writes: GroupCommit[c.WriteOp] = GroupCommit(
            self._commit_batch, errors=self._errors, max_batch=max_batch, name="sqlite"
        )

    @property
    def commits(self) -> int:
        """Write transactions committed since the store was created."""
        return self._writes.commits

    async def open(self) -> None:
        """Open both connections, switch to WAL and apply pending migrations."""
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="robofleet-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="robofleet-sqlite-reader")
        try:
            with self._errors.translated():
                self._write_conn = await self._on_writer(lambda: self._connect(wal=True))
                await self._migrate()
                self._read_conn = await self._on_reader(lambda: self._connect(wal=False))
        except BaseException:
            await self._release()
            raise
        self._writes.start()

    async def close(self) -> None:
        """Write what is queued, close both connections and stop the threads."""
        try:
            await self._writes.close()
        finally:
            await self._release()

    async def get_robot(self, robot_id: str) -> Robot | None:
        """Return one robot, or None."""
        rows = await self._read(_ROBOT_BY_ID, (robot_id,))
        return c.robot_from_row(rows[0]) if rows else None

    async def unfinished_robots(self) -> list[Robot]:
        """Every robot in ``queued`` or ``running``, oldest first."""
        rows = await self._read(
            f"SELECT {c.ROBOT_SELECT} FROM robots WHERE status IN (?, ?) ORDER BY id", c.UNFINISHED
        )
        return [c.robot_from_row(row) for row in rows]

    async def attempts(self, robot_id: str) -> list[Attempt]:
        """Every recorded attempt of a robot, oldest first."""
        rows = await self._read(
            f"SELECT {c.ATTEMPT_SELECT} FROM attempts WHERE robot_id = ? ORDER BY attempt",
            (robot_id,),
        )
        return [c.attempt_from_row(row) for row in rows]

    async def attempt_routes(self, robot_id: str) -> list[AttemptRoute]:
        """Every attempt of a robot with its routing decision, oldest first."""
        rows = await self._read(_ROUTES, (robot_id, robot_id))
        return [route_from_row(row) for row in rows]

    async def attempt_counts(self, module: str) -> dict[str, int]:
        """How many attempts each replica of a module has recorded."""
        rows = await self._read(
            "SELECT replica, COUNT(*) FROM attempts WHERE module = ? AND replica IS NOT NULL "
            "GROUP BY replica",
            (module,),
        )
        return {replica: count for replica, count in rows}

    async def save_module(self, spec: ModuleSpec) -> None:
        """Insert or replace a module registered at run time."""
        await self._write_now(
            "INSERT INTO modules (name, spec) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
            (spec.name, c.module_to_text(spec)),
        )

    async def delete_module(self, name: str) -> None:
        """Forget a module registered at run time."""
        await self._write_now("DELETE FROM modules WHERE name = ?", (name,))

    async def list_modules(self) -> list[ModuleSpec]:
        """Modules registered at run time, by name."""
        rows = await self._read("SELECT spec FROM modules ORDER BY name", ())
        return [c.module_from_text(spec) for (spec,) in rows]

    # -- rules and schedules ------------------------------------------------------------

    async def advance_schedule(
        self,
        rule_id: str,
        version: int,
        state: ScheduleState,
        robots: Sequence[Robot],
        firings: Sequence[RuleFiring],
    ) -> list[Robot] | None:
        """Write a schedule's new state, its robots and firings in one transaction.

        Applies only while the stored state is at ``version`` (then ``version + 1``);
        None if it is not. Each robot is inserted unless its id or idempotency key is
        stored; the answer holds what the store holds for each.
        """
        rows = [c.robot_row(robot) for robot in robots]
        firing_rows = [c.firing_row(firing) for firing in firings]

        def advance(conn: sqlite3.Connection) -> list[Robot] | None:
            cursor = conn.execute(_ADVANCE_SCHEDULE, (*c.state_row(state), rule_id, version))
            if cursor.rowcount != 1:
                return None
            stored = self._create(conn, c.CreateRobots(rows, list(robots), [None] * len(rows)))
            conn.executemany(_INSERT_FIRING, firing_rows)
            return stored

        return await self._write_fn(advance)

    async def record_firings(self, firings: Sequence[RuleFiring]) -> None:
        """Append rule firings in one transaction."""
        if firings:
            rows = [c.firing_row(firing) for firing in firings]
            await self._write_fn(lambda conn: conn.executemany(_INSERT_FIRING, rows))

    # -- API keys and audit --------------------------------------------------------------

    async def create_api_key(self, key: ApiKey, only_if_none: bool = False) -> bool:
        """Insert a key record (with ``only_if_none``, only into an empty key table)."""

        def insert(conn: sqlite3.Connection) -> bool:
            if only_if_none and conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone():
                return False
            conn.execute(_INSERT_KEY, c.key_row(key))
            return True

        return await self._write_fn(insert)

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose SHA-256 is ``key_hash``, or None."""
        rows = await self._read(
            f"SELECT {c.KEY_SELECT} FROM api_keys WHERE key_hash = ?", (key_hash,)
        )
        return c.key_from_row(rows[0]) if rows else None

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """One key record by id, or None."""
        rows = await self._read(f"SELECT {c.KEY_SELECT} FROM api_keys WHERE id = ?", (key_id,))
        return c.key_from_row(rows[0]) if rows else None

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key record, oldest first."""
        rows = await self._read(f"SELECT {c.KEY_SELECT} FROM api_keys ORDER BY created_at, id", ())
        return [c.key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> bool:
        """Revoke a key from ``at`` on; False if absent or already revoked."""

        def revoke(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (float(at), key_id),
            )
            return cursor.rowcount == 1

        return await self._write_fn(revoke)

    async def rotate_api_key(self, key_id: str, new_key: ApiKey, overlap_until: float) -> bool:
        """Insert ``new_key`` and end ``key_id`` at ``overlap_until``, in one transaction."""

        def rotate(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_keys SET overlap_until = ? WHERE id = ? AND revoked_at IS NULL",
                (float(overlap_until), key_id),
            )
            if cursor.rowcount != 1:
                return False
            conn.execute(_INSERT_KEY, c.key_row(new_key))
            return True

        return await self._write_fn(rotate)

    async def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries in one transaction."""
        if not entries:
            return
        rows = [c.audit_row(entry) for entry in entries]
        await self._write_fn(lambda conn: conn.executemany(_INSERT_AUDIT, rows))

    # -- threads and connections -------------------------------------------------------

    def _connect(self, *, wal: bool) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=True,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        if wal and conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            # Switching modes takes an exclusive lock that the busy handler does not wait
            # for; once the file is in WAL mode (the first opener did it) this is skipped.
            for attempt in range(50):
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise sqlite3.OperationalError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def _on_reader(self, fn: Callable[[], T]) -> T:
        if self._reader is None:
            raise sqlite3.OperationalError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn)

    _placeholder = staticmethod(sqlite_placeholder)

    async def _page_rows(self, sql: str, params: list[Any]) -> Sequence[Any]:
        return await self._read(sql, params)

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        def run() -> list[Any]:
            assert self._read_conn is not None
            return self._read_conn.execute(sql, params).fetchall()

        with self._errors.translated():
            return await self._on_reader(run)

    async def _mail_write(self, sql: str, params: Sequence[Any]) -> None:
        await self._write_now(sql, params)

    async def _write_returning(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._write_fn(lambda conn: conn.execute(sql, params).fetchall())

    async def _write_now(self, sql: str, params: Sequence[Any]) -> None:
        """Run one rarely used write in its own transaction, outside group commit."""

        def run() -> None:
            with self._transaction() as conn:
                conn.execute(sql, params)

        with self._errors.translated():
            await self._on_writer(run)

    async def _write_fn(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in its own write transaction, outside group commit."""

        def run() -> T:
            with self._transaction() as conn:
                return fn(conn)

        with self._errors.translated():
            return await self._on_writer(run)

    def _transaction(self) -> _Transaction:
        assert self._write_conn is not None
        return _Transaction(self._write_conn)

    async def _migrate(self) -> None:
        conn = self._write_conn
        assert conn is not None

        async def execute(sql: str) -> None:
            await self._on_writer(lambda: conn.execute(sql))

        async def applied() -> list[int]:
            rows = await self._on_writer(lambda: conn.execute(APPLIED_SQL).fetchall())
            return [version for (version,) in rows]

        await self._on_writer(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            await apply_migrations(execute, applied)
        except BaseException:
            await self._on_writer(lambda: conn.execute("ROLLBACK"))
            raise
        await self._on_writer(lambda: conn.execute("COMMIT"))

    async def _release(self) -> None:
        for executor, attr in ((self._writer, "_write_conn"), (self._reader, "_read_conn")):
            conn = getattr(self, attr)
            if executor is None:
                continue
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
                setattr(self, attr, None)
            executor.shutdown(wait=True)
        self._writer = self._reader = None

    # -- the writer thread ---------------------------------------------------------------

    async def _commit_batch(self, ops: Sequence[c.WriteOp]) -> list[Any]:
        return await self._on_writer(lambda: self._write_batch(ops))

    def _write_batch(self, ops: Sequence[c.WriteOp]) -> list[Any]:
        with self._transaction() as conn:
            return [self._write_op(conn, op) for op in ops]

    def _write_op(self, conn: sqlite3.Connection, op: c.WriteOp) -> Any:
        if isinstance(op, c.CreateRobots):
            return self._create(conn, op)
        if isinstance(op, c.ApplyTransitions):
            return [self._apply_one(conn, t) for t in op.transitions]
        conn.executemany(
            _SAVE_PROGRESS,
            [(u.fraction, u.message, u.robot_id, u.attempt) for u in c.latest_progress(op.updates)],
        )
        return None

    @staticmethod
    def _create(conn: sqlite3.Connection, op: c.CreateRobots) -> list[Robot]:
        stored: list[Robot] = []
        for row, robot, audit in zip(op.rows, op.robots, op.audit, strict=True):
            if conn.execute(_INSERT_ROBOT, row).rowcount == 1:
                if audit is not None:
                    conn.execute(_INSERT_AUDIT, audit)
                stored.append(robot)
                continue
            found = conn.execute(_ROBOT_BY_ID, (row[c.ID_INDEX],)).fetchone()
            if found is None and row[c.KEY_INDEX] is not None:
                found = conn.execute(_ROBOT_BY_KEY, (row[c.KEY_INDEX],)).fetchone()
            if found is None:
                raise StoreError(f"robot {row[c.ID_INDEX]} was neither inserted nor found")
            stored.append(c.robot_from_row(found))
        return stored

    @staticmethod
    def _apply_one(conn: sqlite3.Connection, t: c.EncodedTransition) -> bool:
        where = (t.robot_id, t.attempt, t.from_status)
        if t.from_status == c.RUNNING:
            conn.execute(
                _INSERT_ATTEMPT,
                (t.to_status, t.sets_error, t.fields.get("error"), t.at, *where),
            )
        assignments = ", ".join(f"{name} = ?" for name in t.fields)
        sql = "UPDATE robots SET status = ?, attempt = ?, updated_at = ?"
        if assignments:
            sql += ", " + assignments
        cursor = conn.execute(
            sql + " WHERE id = ? AND attempt = ? AND status = ?",
            (t.to_status, t.attempt_after, t.at, *t.fields.values(), *where),
        )
        if cursor.rowcount != 1:
            return False
        if t.child_rows:
            conn.executemany(_INSERT_ROBOT, t.child_rows)
        if t.firing_rows:
            conn.executemany(_INSERT_FIRING, t.firing_rows)
        if t.delivery_rows:
            conn.executemany(_INSERT_DELIVERY, t.delivery_rows)
        return True


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection, rolled back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
