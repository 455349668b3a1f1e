"""Submit: answer a batch of submitted robots, storing and queueing those that are accepted.

:func:`submit_many` is the orchestrator's half of ``POST /v1/robots``: it refuses per robot
(no module for its type, its type's queue full), stores the others in one commit with their
audit entries, and puts the newly created ones in line in the :class:`~actors.robot_book.RobotBook`.
"""

from __future__ import annotations

from collections import defaultdict

from actors.module_registry import ModuleRegistry
from actors.robot_book import RobotBook
from runtime.errors import QueueFull, StoreDataError, UnknownRobotType
from runtime.keys import accepted_entry
from runtime.messages import SubmitAnswer, SubmitRequest
from runtime.models import RobotStatus


async def submit_many(
    book: RobotBook,
    registry: ModuleRegistry,
    max_queued_per_type: int,
    requests: list[SubmitRequest],
) -> list[SubmitAnswer]:
    """Persist and enqueue robots; answer each request, in order.

    A robot no module handles is answered with ``error=UnknownRobotType``, one past its
    type's queue bound (``max_queued_per_type``) with ``error=QueueFull``; the others are
    stored in one commit (with their audit entries) and queued. A request whose id or
    idempotency key is already stored is answered with the stored robot (``created=False``).
    """
    answers: list[SubmitAnswer | None] = [None] * len(requests)
    accepted: list[tuple[int, SubmitRequest]] = []
    pending_per_type: dict[str, int] = defaultdict(int)
    for i, request in enumerate(requests):
        robot_type = request.robot.type
        if not registry.handles(robot_type):
            error = UnknownRobotType(f"no module handles type {robot_type!r}")
            answers[i] = SubmitAnswer(request.robot.id, error=error)
            continue
        if len(book.queues[robot_type]) + pending_per_type[robot_type] >= max_queued_per_type:
            full = QueueFull(f"the queue of type {robot_type!r} is full", 1.0)
            answers[i] = SubmitAnswer(request.robot.id, error=full)
            continue
        pending_per_type[robot_type] += 1
        accepted.append((i, request))
    if accepted:
        audit = [
            accepted_entry(r.robot.id, r.audit) if r.audit is not None else None
            for _, r in accepted
        ]
        stored = await book.store.create_robots([r.robot for _, r in accepted], audit)
        if book.status_sync is not None:
            book.status_sync.robots_created()
        for n, ((i, request), robot) in enumerate(zip(accepted, stored, strict=True)):
            submitted = request.robot
            if isinstance(robot, StoreDataError):  # this robot alone cannot be stored
                answers[i] = SubmitAnswer(submitted.id, error=robot)
                continue
            created = robot.id == submitted.id
            if created and robot.status is RobotStatus.QUEUED and robot.id not in book.robots:
                book.enqueue(robot)
            answers[i] = SubmitAnswer(
                id=robot.id,
                status=robot.status,
                created=created,
                same_request=robot.same_request(submitted),
                audited=created and audit[n] is not None,
            )
        book.wake.set()
    return [a for a in answers if a is not None]
