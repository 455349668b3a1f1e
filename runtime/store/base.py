"""The state store interface; SQLite and PostgreSQL implement it with one contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.errors import StoreDataError
from runtime.keys import ApiKey, AuditEntry
from runtime.lifecycle import Transition
from runtime.messages import Progress
from runtime.models import Attempt, ModuleSpec, Robot, RobotStatus, RuleFiring
from runtime.route_record import AttemptRoute
from runtime.rules.model import ScheduleState
from runtime.store._mail import MailTables
from runtime.store._outbox import OutboxTables
from runtime.store._rules import RuleTables


@dataclass(slots=True)
class RobotPage:
    """One page of a robot listing and the cursor of the next page (None at the end)."""

    robots: list[Robot]
    next_cursor: str | None


@dataclass(slots=True)
class AuditPage:
    """One page of the audit log, newest first, and the cursor of the next page."""

    entries: list[AuditEntry]
    next_cursor: str | None


class RobotStore(MailTables, OutboxTables, RuleTables, ABC):
    """Durable record of robots, their attempts, runtime-registered modules, rules, keys and
    audit.

    A transition that carries ``children`` and ``firings`` (a chain step) stores them in its
    own transaction if and only if it applies.

    Writes from many concurrent robots are group-committed: concurrent calls to
    :meth:`create_robots` and :meth:`apply` that arrive while a commit is under way are
    written together in the next transaction.

    Every method raises only :class:`~runtime.errors.StoreError` subclasses, classed once
    by kind at the store boundary (``runtime.store._errors``): ``StoreUnavailable`` (the
    database cannot be reached; writes are retried until it is back), ``StoreDataError`` (a
    value it cannot hold), ``StoreConflict`` (a lost race) or plain ``StoreError``.
    """

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release connections."""

    @abstractmethod
    async def create_robots(
        self, robots: Sequence[Robot], audit: Sequence[AuditEntry | None] | None = None
    ) -> list[Robot | StoreDataError]:
        """Insert new queued robots durably; return what the store holds for each.

        A robot whose id already exists is not inserted again: the stored row is returned
        (so a retried submit is harmless). Likewise for a robot whose ``idempotency_key``
        matches a stored robot's. ``audit`` gives, per robot, an entry recorded in the same
        transaction if and only if that robot is inserted. A robot the store cannot hold is
        answered with its :class:`StoreDataError` in its place; the others are stored.
        Raises :class:`StoreUnavailable` when the store cannot be reached.
        """

    @abstractmethod
    async def apply(self, transitions: Sequence[Transition]) -> list[bool | StoreDataError]:
        """Apply conditional transitions; return, for each, whether it took effect.

        A transition applies only when the stored robot still has ``attempt`` and
        ``from_status``. One that leaves ``running`` also records an :class:`Attempt`. A
        transition the store cannot hold is answered with its :class:`StoreDataError`; the
        others apply. While the store is unavailable the call waits until it is back.
        """

    @abstractmethod
    async def save_progress(self, updates: Sequence[Progress]) -> None:
        """Record the latest progress of running attempts (no-op for a stale attempt).

        Of several reports of one attempt, the last in ``updates`` wins.
        """

    @abstractmethod
    async def get_robot(self, robot_id: str) -> Robot | None:
        """Return one robot, or None."""

    @abstractmethod
    async def list_robots(
        self,
        status: RobotStatus | None = None,
        robot_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RobotPage:
        """List robots newest first, filtered, with keyset pagination."""

    @abstractmethod
    async def unfinished_robots(self) -> list[Robot]:
        """Every robot in ``queued`` or ``running``: what a restarted orchestrator rebuilds."""

    @abstractmethod
    async def attempts(self, robot_id: str) -> list[Attempt]:
        """Every recorded attempt of a robot, oldest first."""

    @abstractmethod
    async def attempt_routes(self, robot_id: str) -> list[AttemptRoute]:
        """Every attempt of a robot with the routing decision that placed it, oldest first.

        The running attempt comes from the robot's row; an attempt recorded before routing
        was explained has ``decision=None``.
        """

    @abstractmethod
    async def attempt_counts(self, module: str) -> dict[str, int]:
        """How many attempts each replica of a module has recorded."""

    @abstractmethod
    async def save_module(self, spec: ModuleSpec) -> None:
        """Insert or replace a module registered at run time."""

    @abstractmethod
    async def delete_module(self, name: str) -> None:
        """Forget a module registered at run time."""

    @abstractmethod
    async def list_modules(self) -> list[ModuleSpec]:
        """Modules registered at run time, to re-deploy after a restart."""

    # -- rules and schedules (save, delete, list and get a rule, list its firings: ----
    # -- RuleTables, the same SQL on both stores) -----------------------------------------

    @abstractmethod
    async def advance_schedule(
        self,
        rule_id: str,
        version: int,
        state: ScheduleState,
        robots: Sequence[Robot],
        firings: Sequence[RuleFiring],
    ) -> list[Robot] | None:
        """Write a schedule's new state (paused, cursor, buffer, counts), its robots and
        firings in one transaction.

        Applies only while the stored state is at ``version``, and moves it to
        ``version + 1``; answers None (nothing written) otherwise. A robot whose id or
        idempotency key is stored is not inserted again: the answer holds, per robot, what
        the store holds.
        """

    @abstractmethod
    async def record_firings(self, firings: Sequence[RuleFiring]) -> None:
        """Append rule firings in one transaction."""

    # -- API keys and audit --------------------------------------------------------------

    @abstractmethod
    async def create_api_key(self, key: ApiKey, only_if_none: bool = False) -> bool:
        """Insert a key record; with ``only_if_none``, only when the store has no key yet.

        Returns whether it was inserted (``only_if_none`` is how ``robofleet up`` makes
        the first admin key exactly once).
        """

    @abstractmethod
    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose SHA-256 is ``key_hash``, whatever its state, or None."""

    @abstractmethod
    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """One key record by id, or None."""

    @abstractmethod
    async def list_api_keys(self) -> list[ApiKey]:
        """Every key record, oldest first."""

    @abstractmethod
    async def revoke_api_key(self, key_id: str, at: float) -> bool:
        """Revoke a key from ``at`` on; False if there is no such key or it is revoked."""

    @abstractmethod
    async def rotate_api_key(self, key_id: str, new_key: ApiKey, overlap_until: float) -> bool:
        """In one transaction: insert ``new_key`` and let ``key_id`` live until ``overlap_until``.

        False (and nothing written) if the old key does not exist or is revoked.
        """

    @abstractmethod
    async def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries (one transaction for the batch).

        Raises :class:`StoreDataError` when the store cannot hold one of them (nothing of the
        batch is written) and :class:`StoreUnavailable` when it cannot be reached.
        """

    @abstractmethod
    async def list_audit(
        self, limit: int = 50, cursor: str | None = None, actor: str | None = None
    ) -> AuditPage:
        """Audit entries newest first, optionally of one actor, keyset-paginated on the id."""
