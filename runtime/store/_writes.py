"""The write front both stores share: encode, then queue for a group commit."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.keys import AuditEntry
from runtime.lifecycle import Transition
from runtime.messages import Progress
from runtime.models import Robot
from runtime.store import _codec as c
from runtime.store._errors import store_errors
from runtime.store.group_commit import GroupCommit


class GroupCommitWrites:
    """Mixin: ``create_robots``, ``apply`` and ``save_progress`` over group-commit queues.

    A backend sets ``_backend`` (its name in errors) and ``_writes``; it may set
    ``_creates`` to commit robot creates on a queue of their own.
    """

    _backend: str
    _writes: GroupCommit[c.WriteOp]
    _creates: GroupCommit[c.WriteOp] | None = None

    async def create_robots(
        self, robots: Sequence[Robot], audit: Sequence[AuditEntry | None] | None = None
    ) -> list[Robot]:
        """Insert robots unless their id or idempotency key is stored; return stored rows.

        Each robot's audit entry, if any, is written with it and only if it is inserted.
        """
        if not robots:
            return []
        rows = [c.robot_row(robot) for robot in robots]
        entries = audit if audit is not None else [None] * len(rows)
        audit_rows = [c.audit_row(e) if e is not None else None for e in entries]
        if len(audit_rows) != len(rows):
            raise ValueError("create_robots: one audit entry (or None) per robot")
        queue = self._creates or self._writes
        with store_errors(self._backend):
            return await queue.submit(c.CreateRobots(rows, list(robots), audit_rows))

    async def apply(self, transitions: Sequence[Transition]) -> list[bool]:
        """Apply conditional transitions in order; return which ones took effect."""
        if not transitions:
            return []
        encoded = [c.encode_transition(t) for t in transitions]
        with store_errors(self._backend):
            return await self._writes.submit(c.ApplyTransitions(encoded))

    async def save_progress(self, updates: Sequence[Progress]) -> None:
        """Record the latest progress of running attempts."""
        if not updates:
            return
        with store_errors(self._backend):
            await self._writes.submit(c.SaveProgress(list(updates)))
