"""The production store: PostgreSQL through asyncpg, with separate read and write pools."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any

import asyncpg

from runtime.errors import StoreError
from runtime.keys import ApiKey, AuditEntry
from runtime.models import Attempt, ModuleSpec, Robot, RuleFiring
from runtime.route_record import AttemptRoute, route_from_row
from runtime.rules.model import ScheduleState
from runtime.store import _codec as c
from runtime.store._errors import StoreErrors, is_unavailable
from runtime.store._keyset import KeysetPages, postgres_placeholder
from runtime.store._outbox import DELIVERY_COLUMNS
from runtime.store._pages import with_placeholders
from runtime.store._rules import ADVANCE_SCHEDULE
from runtime.store._writes import GroupCommitWrites
from runtime.store.base import RobotStore
from runtime.store.group_commit import CommitInDoubt, GroupCommit
from runtime.store.migrate import APPLIED_SQL, apply_migrations
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x726F626F666C6565  # "robofleet": serialises migrations across processes
_FIRST_KEY_LOCK = 0x726F626F6B657931  # serialises "create the first key" across processes
_INSERT_KEY = (
    f"INSERT INTO api_keys ({c.KEY_SELECT}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(c.KEY_COLUMN_NAMES)))})"
)


def _unnest(columns: Sequence[tuple[str, str]], first: int = 1) -> str:
    arrays = ", ".join(f"${first + i}::{pg_type}[]" for i, (_, pg_type) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    return f"unnest({arrays}) AS v({names})"


_INSERT_AUDIT = (
    f"INSERT INTO audit_log ({c.AUDIT_SELECT}) SELECT * FROM {_unnest(c.AUDIT_COLUMNS)} "
    "ON CONFLICT DO NOTHING"
)
# Robots, and the audit entries of those actually inserted, in one statement.
_INSERT_ROBOTS = (
    f"WITH new AS (INSERT INTO robots ({c.ROBOT_SELECT}) "
    f"SELECT * FROM {_unnest(c.ROBOT_COLUMNS)} ON CONFLICT DO NOTHING RETURNING id), "
    f"audited AS (INSERT INTO audit_log ({c.AUDIT_SELECT}) "
    f"SELECT * FROM {_unnest(c.AUDIT_COLUMNS, len(c.ROBOT_COLUMNS) + 1)} "
    "WHERE v.target IN (SELECT id FROM new) ON CONFLICT DO NOTHING) "
    "SELECT id FROM new"
)
_INSERT_FIRINGS = (
    f"INSERT INTO rule_firings ({c.FIRING_SELECT}) SELECT * FROM {_unnest(c.FIRING_COLUMNS)} "
    "ON CONFLICT DO NOTHING"
)
_INSERT_DELIVERIES = (
    f"INSERT INTO notifications ({', '.join(n for n, _ in DELIVERY_COLUMNS)}) "
    f"SELECT * FROM {_unnest(DELIVERY_COLUMNS)} ON CONFLICT DO NOTHING"
)
_INSERT_CHILDREN = (
    f"INSERT INTO robots ({c.ROBOT_SELECT}) SELECT * FROM {_unnest(c.ROBOT_COLUMNS)} "
    "ON CONFLICT DO NOTHING"
)
_ADVANCE_SCHEDULE = with_placeholders(ADVANCE_SCHEDULE, postgres_placeholder)
_ROBOTS_BY_ID = f"SELECT {c.ROBOT_SELECT} FROM robots WHERE id = ANY($1::text[])"
_ROBOTS_BY_KEY = f"SELECT {c.ROBOT_SELECT} FROM robots WHERE idempotency_key = ANY($1::text[])"

_ATTEMPT_INPUT = (
    ("id", "text"),
    ("attempt", "int4"),
    ("to_status", "text"),
    ("sets_error", "bool"),
    ("error", "text"),
    ("at", "float8"),
)
# Runs before the update so it records module, replica and started_at as they were.
_INSERT_ATTEMPTS = (
    "INSERT INTO attempts (robot_id, attempt, module, replica, status, error, started_at, "
    "finished_at, routing) SELECT r.id, r.attempt, r.module, r.replica, v.to_status, "
    "CASE WHEN v.sets_error THEN v.error ELSE r.error END, r.started_at, v.at, r.routing "
    f"FROM {_unnest(_ATTEMPT_INPUT)}, robots r "
    f"WHERE r.id = v.id AND r.attempt = v.attempt AND r.status = '{c.RUNNING}' "
    "ON CONFLICT DO NOTHING"
)

_TRANSITION_INPUT = (
    ("idx", "int4"),
    ("id", "text"),
    ("attempt", "int4"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("attempt_after", "int4"),
    ("at", "float8"),
    ("mask", "int4"),
    *c.MUTABLE_COLUMNS,
)
_APPLY = (
    "UPDATE robots AS r SET status = v.to_status, attempt = v.attempt_after, "
    "updated_at = v.at, "
    + ", ".join(
        f"{name} = CASE WHEN (v.mask & {1 << bit}) <> 0 THEN v.{name} ELSE r.{name} END"
        for bit, name in enumerate(c.MUTABLE_COLUMN_NAMES)
    )
    + f" FROM {_unnest(_TRANSITION_INPUT)} "
    "WHERE r.id = v.id AND r.attempt = v.attempt AND r.status = v.from_status "
    "RETURNING v.idx"
)

_ROUTES = c.routes_sql("$1", "$1")
_PROGRESS_INPUT = (("id", "text"), ("attempt", "int4"), ("progress", "float8"), ("message", "text"))
_SAVE_PROGRESS = (
    f"UPDATE robots AS r SET progress = v.progress, message = v.message "
    f"FROM {_unnest(_PROGRESS_INPUT)} "
    f"WHERE r.id = v.id AND r.attempt = v.attempt AND r.status = '{c.RUNNING}'"
)


def _lock_order(row: Sequence[Any]) -> str:
    """The idempotency key: every create takes its unique-index locks in key order.

    The sort is stable, so of two robots with one key the first submitted still wins.
    """
    return str(row[c.KEY_INDEX] or "")


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Transpose rows into one list per column, the shape ``unnest`` takes."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _rounds(transitions: Sequence[c.EncodedTransition]) -> list[list[int]]:
    """Split transitions so each round touches a robot at most once, keeping their order.

    One ``UPDATE ... FROM`` can change a row only once; a robot started and finished in
    the same batch needs its two transitions in successive rounds.
    """
    seen: Counter[str] = Counter()
    rounds: list[list[int]] = []
    for index, t in enumerate(transitions):
        depth = seen[t.robot_id]
        seen[t.robot_id] += 1
        if depth == len(rounds):
            rounds.append([])
        rounds[depth].append(index)
    return rounds


class PostgresStore(GroupCommitWrites, KeysetPages, RobotStore):
    """A :class:`RobotStore` in PostgreSQL.

    Writes are group-committed through a small write pool; batched transitions become one
    ``UPDATE ... FROM unnest(...)`` per round. Reads use their own pool so they never queue
    behind a commit. ``server_settings`` is passed to every connection (e.g.
    ``{"search_path": "tenant"}``). ``statement_cache_size`` is asyncpg's per-connection
    cache of prepared statements; 0 behind a pooler in transaction mode (pgbouncer), where
    a named prepared statement may land on another server connection.
    """

    _backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        read_pool_size: int = 8,
        write_pool_size: int = 3,
        server_settings: Mapping[str, str] | None = None,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 60.0,
        max_batch: int = 512,
        statement_cache_size: int = 100,
    ) -> None:
        self._dsn = dsn
        self._statement_cache_size = statement_cache_size
        self._errors = StoreErrors("postgresql", on_away=self._expire_connections)
        self._expiring = BackgroundTasks("postgresql store")
        self._read_pool_size = read_pool_size
        self._write_pool_size = write_pool_size
        self._server_settings = dict(server_settings or {})
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._read_pool: asyncpg.Pool | None = None
        self._write_pool: asyncpg.Pool | None = None
        # Creates and transitions commit on separate connections, so a submit never waits
        # behind the commit of other robots' outcomes. The two never touch the same row in
        # a way that needs ordering: a robot is only dispatched once its create returned.
        # Outcomes and progress wait for an unavailable database as long as it takes (no
        # write is dropped); a submit waits briefly, then its client hears 503 + Retry-After.
        self._writes: GroupCommit[c.WriteOp] = GroupCommit(
            self._commit_batch, errors=self._errors, max_batch=max_batch, name="postgresql"
        )
        self._creates: GroupCommit[c.WriteOp] = GroupCommit(
            self._commit_batch,
            errors=self._errors,
            max_batch=max_batch,
            name="postgresql-create",
            flushers=2,  # creates need no order: one batch need not wait for another's fsync
        )

    @property
    def commits(self) -> int:
        """Write transactions committed since the store was created."""
        return self._writes.commits + self._creates.commits

    async def open(self) -> None:
        """Create both pools and apply pending migrations."""
        try:
            with self._errors.translated():
                self._write_pool = await self._pool(self._write_pool_size)
                await self._migrate()
                self._read_pool = await self._pool(self._read_pool_size)
        except BaseException:
            await self._release()
            raise
        self._writes.start()
        self._creates.start()

    async def close(self) -> None:
        """Write what is queued and close both pools."""
        try:
            await self._writes.close()
            await self._creates.close()
        finally:
            await self._release()

    async def get_robot(self, robot_id: str) -> Robot | None:
        """Return one robot, or None."""
        rows = await self._read(f"SELECT {c.ROBOT_SELECT} FROM robots WHERE id = $1", robot_id)
        return c.robot_from_row(rows[0]) if rows else None

    async def unfinished_robots(self) -> list[Robot]:
        """Every robot in ``queued`` or ``running``, oldest first."""
        rows = await self._read(
            f"SELECT {c.ROBOT_SELECT} FROM robots WHERE status = ANY($1::text[]) ORDER BY id",
            list(c.UNFINISHED),
        )
        return [c.robot_from_row(row) for row in rows]

    async def attempts(self, robot_id: str) -> list[Attempt]:
        """Every recorded attempt of a robot, oldest first."""
        rows = await self._read(
            f"SELECT {c.ATTEMPT_SELECT} FROM attempts WHERE robot_id = $1 ORDER BY attempt",
            robot_id,
        )
        return [c.attempt_from_row(row) for row in rows]

    async def attempt_routes(self, robot_id: str) -> list[AttemptRoute]:
        """Every attempt of a robot with its routing decision, oldest first."""
        rows = await self._read(_ROUTES, robot_id)
        return [route_from_row(row) for row in rows]

    async def attempt_counts(self, module: str) -> dict[str, int]:
        """How many attempts each replica of a module has recorded."""
        rows = await self._read(
            "SELECT replica, COUNT(*) FROM attempts WHERE module = $1 AND replica IS NOT NULL "
            "GROUP BY replica",
            module,
        )
        return {replica: count for replica, count in rows}

    async def save_module(self, spec: ModuleSpec) -> None:
        """Insert or replace a module registered at run time."""
        await self._write_now(
            "INSERT INTO modules (name, spec) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
            spec.name,
            c.module_to_text(spec),
        )

    async def delete_module(self, name: str) -> None:
        """Forget a module registered at run time."""
        await self._write_now("DELETE FROM modules WHERE name = $1", name)

    async def list_modules(self) -> list[ModuleSpec]:
        """Modules registered at run time, by name."""
        rows = await self._read("SELECT spec FROM modules ORDER BY name")
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
        None if it is not.
        """
        rows = [c.robot_row(robot) for robot in robots]
        firing_rows = [c.firing_row(firing) for firing in firings]
        with self._errors.translated():
            async with self._require(self._write_pool).acquire() as conn, conn.transaction():
                status = await conn.execute(
                    _ADVANCE_SCHEDULE, *c.state_row(state), rule_id, version
                )
                if status != "UPDATE 1":
                    return None
                stored: list[Robot] = []
                if rows:
                    [stored] = await self._create(
                        conn, [c.CreateRobots(rows, list(robots), [None] * len(rows))]
                    )
                if firing_rows:
                    await conn.execute(
                        _INSERT_FIRINGS, *_columns(firing_rows, len(c.FIRING_COLUMNS))
                    )
                return stored

    async def record_firings(self, firings: Sequence[RuleFiring]) -> None:
        """Append rule firings in one transaction."""
        if not firings:
            return
        rows = [c.firing_row(firing) for firing in firings]
        with self._errors.translated():
            await self._require(self._write_pool).execute(
                _INSERT_FIRINGS, *_columns(rows, len(c.FIRING_COLUMNS))
            )

    # -- API keys and audit --------------------------------------------------------------

    async def create_api_key(self, key: ApiKey, only_if_none: bool = False) -> bool:
        """Insert a key record (with ``only_if_none``, only into an empty key table)."""
        with self._errors.translated():
            async with self._require(self._write_pool).acquire() as conn, conn.transaction():
                if only_if_none:
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _FIRST_KEY_LOCK)
                    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys)"):
                        return False
                await conn.execute(_INSERT_KEY, *c.key_row(key))
                return True

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose SHA-256 is ``key_hash``, or None."""
        rows = await self._read(
            f"SELECT {c.KEY_SELECT} FROM api_keys WHERE key_hash = $1", key_hash
        )
        return c.key_from_row(rows[0]) if rows else None

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """One key record by id, or None."""
        rows = await self._read(f"SELECT {c.KEY_SELECT} FROM api_keys WHERE id = $1", key_id)
        return c.key_from_row(rows[0]) if rows else None

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key record, oldest first."""
        rows = await self._read(f"SELECT {c.KEY_SELECT} FROM api_keys ORDER BY created_at, id")
        return [c.key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> bool:
        """Revoke a key from ``at`` on; False if absent or already revoked."""
        with self._errors.translated():
            status = await self._require(self._write_pool).execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                float(at),
                key_id,
            )
        return status == "UPDATE 1"

    async def rotate_api_key(self, key_id: str, new_key: ApiKey, overlap_until: float) -> bool:
        """Insert ``new_key`` and end ``key_id`` at ``overlap_until``, in one transaction."""
        with self._errors.translated():
            async with self._require(self._write_pool).acquire() as conn, conn.transaction():
                status = await conn.execute(
                    "UPDATE api_keys SET overlap_until = $1 WHERE id = $2 AND revoked_at IS NULL",
                    float(overlap_until),
                    key_id,
                )
                if status != "UPDATE 1":
                    return False
                await conn.execute(_INSERT_KEY, *c.key_row(new_key))
                return True

    async def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries in one transaction."""
        if not entries:
            return
        rows = [c.audit_row(entry) for entry in entries]
        with self._errors.translated():
            async with self._require(self._write_pool).acquire() as conn:
                # One statement, so one transaction without BEGIN and COMMIT round trips.
                await conn.execute(_INSERT_AUDIT, *_columns(rows, len(c.AUDIT_COLUMNS)))

    # -- pools ---------------------------------------------------------------------------

    async def _pool(self, size: int) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn,
            # No floor to keep: asyncpg refills one with a traceback per try while the
            # server is away. Connections open on demand and idle ones stay pooled.
            min_size=0,
            max_size=size,
            timeout=self._connect_timeout_s,
            command_timeout=self._command_timeout_s,
            server_settings=self._server_settings,
            statement_cache_size=self._statement_cache_size,
            reset=_keep_session,
        )

    def _expire_connections(self) -> None:
        """Replace every pooled connection at its next use: they died with the server."""
        for pool in (self._read_pool, self._write_pool):
            if pool is not None:
                self._expiring.spawn(pool.expire_connections())

    def _require(self, pool: asyncpg.Pool | None) -> asyncpg.Pool:
        if pool is None:
            raise StoreError("postgresql store is not open")
        return pool

    _placeholder = staticmethod(postgres_placeholder)

    async def _page_rows(self, sql: str, params: list[Any]) -> Sequence[Any]:
        return await self._read(sql, *params)

    async def _read(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with self._errors.translated():
            return await self._require(self._read_pool).fetch(sql, *args)

    async def _mail_write(self, sql: str, params: Sequence[Any]) -> None:
        await self._write_now(sql, *params)

    async def _write_returning(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._errors.translated():
            return list(await self._require(self._write_pool).fetch(sql, *params))

    async def _write_now(self, sql: str, *args: Any) -> None:
        """Run one rarely used write in its own transaction, outside group commit."""
        with self._errors.translated():
            await self._require(self._write_pool).execute(sql, *args)

    async def _migrate(self) -> None:
        async with self._require(self._write_pool).acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)

            async def applied() -> list[int]:
                return [row[0] for row in await conn.fetch(APPLIED_SQL)]

            await apply_migrations(conn.execute, applied)

    async def _release(self) -> None:
        pools = (self._write_pool, self._read_pool)
        self._write_pool = self._read_pool = None
        for pool in pools:
            if pool is not None:
                await pool.close()

    # -- group commit --------------------------------------------------------------------

    async def _commit_batch(self, ops: Sequence[c.WriteOp]) -> list[Any]:
        results: list[Any] = []
        if all(type(op) is c.CreateRobots for op in ops):
            return await self._commit_creates(ops)
        async with self._require(self._write_pool).acquire() as conn, conn.transaction():
            if not any(type(op) is c.CreateRobots for op in ops):
                # Outcomes and progress need no flush of their own: a robot is durable from
                # its create, and an outcome lost to a database crash only means the robot
                # runs again (at-least-once), still recorded once. Creates stay synchronous.
                await conn.execute("SET LOCAL synchronous_commit = off")
            for kind, run in groupby(ops, key=type):
                same = list(run)
                if kind is c.CreateRobots:
                    results.extend(await self._create(conn, same))
                elif kind is c.ApplyTransitions:
                    results.extend(await self._apply(conn, same))
                else:
                    await self._progress(conn, same)
                    results.extend([None] * len(same))
        return results

    async def _commit_creates(self, ops: Sequence[c.WriteOp]) -> list[Any]:
        """Insert robots in one statement; a batch cut off once it went out is in doubt.

        One INSERT is its own transaction: no BEGIN and COMMIT round trips. What it reads
        afterwards (rows that were there already) is committed data anyway. Two create
        flushers may collide on an idempotency key; rows go in key order so they cannot
        deadlock (a deadlock all the same is a ``StoreConflict``, tried again by the group
        commit). A connection lost once the INSERT went out leaves the batch in doubt: it may
        have committed, so it raises :class:`CommitInDoubt` and the group commit runs it again
        once the database answers, without telling its callers "unavailable" meanwhile; the
        second run finds those robots by id and writes no second audit entry.
        """
        sent = False
        try:
            async with self._require(self._write_pool).acquire() as conn:
                sent = True
                return list(await self._create(conn, list(ops)))
        except Exception as exc:
            if sent and is_unavailable(exc):
                raise CommitInDoubt(exc) from exc
            raise

    @staticmethod
    async def _create(conn: asyncpg.Connection, ops: list[Any]) -> list[list[Robot]]:
        rows = [row for op in ops for row in op.rows]
        audit = [row for op in ops for row in op.audit if row is not None]
        in_lock_order = sorted(rows, key=_lock_order)
        inserted = {
            record[0]
            for record in await conn.fetch(
                _INSERT_ROBOTS,
                *_columns(in_lock_order, len(c.ROBOT_COLUMNS)),
                *_columns(audit, len(c.AUDIT_COLUMNS)),
            )
        }
        by_id = {robot.id: robot for op in ops for robot in op.robots if robot.id in inserted}
        existing = [row[c.ID_INDEX] for row in rows if row[c.ID_INDEX] not in inserted]
        if existing:
            by_id.update(
                (robot.id, robot)
                for robot in map(c.robot_from_row, await conn.fetch(_ROBOTS_BY_ID, existing))
            )
        keys = [
            row[c.KEY_INDEX]
            for row in rows
            if row[c.KEY_INDEX] is not None and row[c.ID_INDEX] not in by_id
        ]
        by_key: dict[str, Robot] = {}
        if keys:
            for record in await conn.fetch(_ROBOTS_BY_KEY, keys):
                robot = c.robot_from_row(record)
                by_key[robot.idempotency_key or ""] = robot
        stored = c.pick_stored(rows, by_id, by_key)
        return list(_split(stored, [len(op.rows) for op in ops]))

    @staticmethod
    async def _apply(conn: asyncpg.Connection, ops: list[Any]) -> list[list[bool]]:
        transitions: list[c.EncodedTransition] = [t for op in ops for t in op.transitions]
        applied = [False] * len(transitions)
        for round_ in _rounds(transitions):
            chosen = [transitions[i] for i in round_]
            leaving_running = [
                (t.robot_id, t.attempt, t.to_status, t.sets_error, t.fields.get("error"), t.at)
                for t in chosen
                if t.from_status == c.RUNNING
            ]
            if leaving_running:
                await conn.execute(
                    _INSERT_ATTEMPTS, *_columns(leaving_running, len(_ATTEMPT_INPUT))
                )
            rows = [
                (
                    i,
                    t.robot_id,
                    t.attempt,
                    t.from_status,
                    t.to_status,
                    t.attempt_after,
                    t.at,
                    t.mask,
                    *(t.fields.get(name) for name in c.MUTABLE_COLUMN_NAMES),
                )
                for i, t in zip(round_, chosen, strict=True)
            ]
            for record in await conn.fetch(_APPLY, *_columns(rows, len(_TRANSITION_INPUT))):
                applied[record[0]] = True
        # A chain step's robots and firings: written with the transition that applied.
        children = [
            r for t, ok in zip(transitions, applied, strict=True) if ok for r in t.child_rows
        ]
        if children:
            await conn.execute(_INSERT_CHILDREN, *_columns(children, len(c.ROBOT_COLUMNS)))
        firings = [
            r for t, ok in zip(transitions, applied, strict=True) if ok for r in t.firing_rows
        ]
        if firings:
            await conn.execute(_INSERT_FIRINGS, *_columns(firings, len(c.FIRING_COLUMNS)))
        deliveries = [
            r for t, ok in zip(transitions, applied, strict=True) if ok for r in t.delivery_rows
        ]
        if deliveries:
            await conn.execute(_INSERT_DELIVERIES, *_columns(deliveries, len(DELIVERY_COLUMNS)))
        return list(_split(applied, [len(op.transitions) for op in ops]))

    @staticmethod
    async def _progress(conn: asyncpg.Connection, ops: list[Any]) -> None:
        updates = c.latest_progress([u for op in ops for u in op.updates])
        rows = [(u.robot_id, u.attempt, u.fraction, u.message) for u in updates]
        await conn.execute(_SAVE_PROGRESS, *_columns(rows, len(_PROGRESS_INPUT)))


def _split(values: list[Any], sizes: list[int]) -> Iterator[list[Any]]:
    start = 0
    for size in sizes:
        yield values[start : start + size]
        start += size


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo, so no reset query per release.

    The store sets no session state (only ``SET LOCAL``, which ends with its transaction),
    takes no advisory locks and listens to nothing; asyncpg's default reset would cost a
    round trip on every commit.
    """
