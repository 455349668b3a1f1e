"""The state store interface; SQLite and PostgreSQL implement it with one contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.lifecycle import Transition
from runtime.models import Attempt, ModuleSpec, Robot, RobotStatus


@dataclass(slots=True)
class ProgressUpdate:
    """The latest progress of one running attempt (coalesced: only the newest is written)."""

    robot_id: str
    attempt: int
    progress: float
    message: str | None


@dataclass(slots=True)
class RobotPage:
    """One page of a robot listing and the cursor of the next page (None at the end)."""

    robots: list[Robot]
    next_cursor: str | None


class RobotStore(ABC):
    """Durable record of robots, their attempts and runtime-registered modules.

    Writes from many concurrent robots are group-committed: concurrent calls to
    :meth:`create_robots` and :meth:`apply` that arrive while a commit is under way are
    written together in the next transaction.
    """

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release connections."""

    @abstractmethod
    async def create_robots(self, robots: Sequence[Robot]) -> list[Robot]:
        """Insert new queued robots durably; return what the store holds for each.

        A robot whose id already exists is not inserted again: the stored row is returned
        (so a retried submit is harmless). Likewise for a robot whose ``idempotency_key``
        matches a stored robot's.
        """

    @abstractmethod
    async def apply(self, transitions: Sequence[Transition]) -> list[bool]:
        """Apply conditional transitions; return, for each, whether it took effect.

        A transition applies only when the stored robot still has ``attempt`` and
        ``from_status``. One that leaves ``running`` also records an :class:`Attempt`.
        """

    @abstractmethod
    async def save_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        """Record the latest progress of running attempts (no-op for a stale attempt)."""

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
