"""The write front both stores share: encode, then queue for a group commit.

A value the store cannot hold fails only the item that carried it: each robot, transition
or progress report is encoded on its own, and an operation the database refused for its
data is split in halves and written again until the item at fault stands alone. Halves are
written one after the other, so transitions keep their order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from runtime.errors import StoreDataError
from runtime.keys import AuditEntry
from runtime.lifecycle import Transition
from runtime.messages import Progress
from runtime.models import Robot
from runtime.store import _codec as c
from runtime.store._errors import StoreErrors
from runtime.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


async def write_isolated(
    items: Sequence[Item],
    write: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
) -> list[Result | StoreDataError]:
    """Write ``items`` with ``write``; one result per item, or the error of an item at fault.

    ``write`` takes a run of items and returns one result each, or raises. A
    :class:`StoreDataError` splits the run in halves, written in order, down to the one item
    the store cannot hold, whose place then holds the error. Other errors propagate.
    """
    if not items:
        return []
    try:
        return list(await write(items))
    except StoreDataError as exc:
        if len(items) == 1:
            return [exc]
    half = len(items) // 2
    first = await write_isolated(items[:half], write)
    return first + await write_isolated(items[half:], write)


class GroupCommitWrites:
    """Mixin: ``create_robots``, ``apply`` and ``save_progress`` over group-commit queues.

    A backend sets ``_backend`` (its name in errors), ``_errors`` and ``_writes``; it may
    set ``_creates`` to commit robot creates on a queue of their own, and
    ``_create_wait_s``, how long a create waits for an unavailable store before its client
    is answered 503 (1 s unless the backend sets another; transitions and progress wait
    until the store is back).
    """

    _backend: str
    _errors: StoreErrors
    _writes: GroupCommit[c.WriteOp]
    _creates: GroupCommit[c.WriteOp] | None = None
    _create_wait_s: float = 1.0

    async def create_robots(
        self, robots: Sequence[Robot], audit: Sequence[AuditEntry | None] | None = None
    ) -> list[Robot | StoreDataError]:
        """Insert robots unless their id or idempotency key is stored; return stored rows.

        Each robot's audit entry, if any, is written with it and only if it is inserted. A
        robot the store cannot hold is answered with its :class:`StoreDataError` and every
        other robot is stored. Raises :class:`StoreUnavailable` (after the create queue's
        wait) or another :class:`StoreError` that fails the whole call.
        """
        if not robots:
            return []
        entries = audit if audit is not None else [None] * len(robots)
        if len(entries) != len(robots):
            raise ValueError("create_robots: one audit entry (or None) per robot")
        results: list[Robot | StoreDataError] = []
        encoded: list[tuple[int, tuple[Any, ...], Robot, tuple[Any, ...] | None]] = []
        for index, (robot, entry) in enumerate(zip(robots, entries, strict=True)):
            try:
                row = c.robot_row(robot)
                audit_row = c.audit_row(entry) if entry is not None else None
            except StoreDataError as exc:
                results.append(exc)
                continue
            results.append(robot)  # replaced below by what the store holds
            encoded.append((index, row, robot, audit_row))
        queue = self._creates or self._writes

        async def write(run: Sequence[tuple[int, tuple[Any, ...], Robot, Any]]) -> list[Robot]:
            op = c.CreateRobots([r[1] for r in run], [r[2] for r in run], [r[3] for r in run])
            stored: list[Robot] = await queue.submit(op, self._create_wait_s)
            return stored

        for (index, *_), stored in zip(encoded, await write_isolated(encoded, write), strict=True):
            if isinstance(stored, StoreDataError):
                log.warning("robot %s cannot be stored: %s", robots[index].id, stored)
            results[index] = stored
        return results

    async def apply(self, transitions: Sequence[Transition]) -> list[bool | StoreDataError]:
        """Apply conditional transitions in order; return which ones took effect.

        A transition the store cannot hold (a result too deep to encode, a value the
        database refuses) is answered with its :class:`StoreDataError`; the others apply.
        Against an unavailable store the call waits until it is back.
        """
        if not transitions:
            return []
        results: list[bool | StoreDataError] = []
        encoded: list[tuple[int, c.EncodedTransition]] = []
        for index, transition in enumerate(transitions):
            try:
                encoded.append((index, c.encode_transition(transition)))
                results.append(False)
            except StoreDataError as exc:
                results.append(exc)

        async def write(run: Sequence[tuple[int, c.EncodedTransition]]) -> list[bool]:
            applied: list[bool] = await self._writes.submit(c.ApplyTransitions([t for _, t in run]))
            return applied

        for (index, _), applied in zip(encoded, await write_isolated(encoded, write), strict=True):
            results[index] = applied
        return results

    async def save_progress(self, updates: Sequence[Progress]) -> None:
        """Record the latest progress of running attempts.

        Raises the :class:`StoreDataError` of a report the store cannot hold, once every
        other report is saved.
        """
        if not updates:
            return

        async def write(run: Sequence[Progress]) -> list[None]:
            await self._writes.submit(c.SaveProgress(list(run)))
            return [None] * len(run)

        outcomes = await write_isolated(updates, write)
        refused = [outcome for outcome in outcomes if isinstance(outcome, StoreDataError)]
        if refused:
            raise refused[0]
