"""What a rule's firing submits: the robot, built from the action and the event, and the
record of the firing. Pure functions; the orchestrator decides when and writes them.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from runtime.lifecycle import Transition
from runtime.models import (
    FiringOutcome,
    Robot,
    RobotRequest,
    RuleFiring,
    new_robot_id,
)
from runtime.rules.mapping import holds, mapped_payload
from runtime.rules.model import Rule, idempotency_key, slot_source
from runtime.rules.slots import iso

__all__ = [
    "RuleNotApplicable",
    "firing_record",
    "robot_event",
    "rule_robot",
    "slot_event",
]


class RuleNotApplicable(ValueError):
    """Raised when a rule's robot cannot be built: its mapping failed or the payload is
    refused (the firing is recorded ``failed`` with this reason)."""


def robot_event(robot: Robot, transition: Transition) -> dict[str, Any]:
    """The event document of a robot's terminal transition: the robot as it ends.

    ``{"id", "type", "status", "attempt", "payload", "result", "error", "parent_id",
    "priority"}``: what ``when`` and ``map`` expressions read.
    """
    event = {
        "id": robot.id,
        "type": robot.type,
        "status": transition.to_status.value,
        "attempt": transition.attempt_after,
        "payload": robot.payload,
        "result": transition.fields.get("result", robot.result),
        "error": transition.fields.get("error", robot.error),
        "parent_id": robot.parent_id,
        "priority": robot.priority,
    }
    return event  # a robot event document, not an error answer


def slot_event(rule_id: str, slot: float, timezone: str) -> dict[str, Any]:
    """The event document of a schedule slot: ``{"schedule", "slot", "slot_iso"}``."""
    return {"schedule": rule_id, "slot": slot, "slot_iso": iso(slot, timezone)}


def rule_robot(
    rule: Rule,
    event: dict[str, Any],
    source: str,
    parent_id: str | None = None,
    now: float | None = None,
) -> Robot | None:
    """The robot ``rule`` submits for ``event``, or None when its ``when`` does not hold.

    Its idempotency key is derived from (rule, ``source``), so the store keeps one robot
    per firing however often it is attempted. Raises :class:`RuleNotApplicable` when an
    expression fails or the mapped payload is not one a client could submit.
    """
    try:
        if not holds(rule.when, event):
            return None
        action = rule.do.submit
        if action is None:
            return None  # a notify rule submits nothing
        payload = mapped_payload(action.payload, action.map, event)
        request = RobotRequest(
            type=action.type,
            payload=payload,
            priority=action.priority,
            max_attempts=action.max_attempts,
            timeout_s=action.timeout_s,
        )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'robot'}: {e['msg']}" for e in exc.errors()
        )
        raise RuleNotApplicable(f"the robot is refused: {reasons}"[:500]) from None
    except ValueError as exc:
        raise RuleNotApplicable(str(exc)[:500]) from None
    robot = Robot.accepted(new_robot_id(), request, now if now is not None else time.time())
    robot.idempotency_key = idempotency_key(rule.id, source)
    robot.parent_id = parent_id
    robot.rule_id = rule.id
    return robot


def firing_record(
    rule_id: str,
    source: str,
    outcome: FiringOutcome,
    robot_id: str | None = None,
    detail: str | None = None,
    at: float | None = None,
) -> RuleFiring:
    """A firing to record (its id sorts by time, like robot ids)."""
    return RuleFiring(
        id=new_robot_id(),
        rule_id=rule_id,
        at=at if at is not None else time.time(),
        source=source,
        outcome=outcome,
        robot_id=robot_id,
        detail=detail,
    )


__all__ += ["slot_source"]
