"""Which slots of a schedule fire now and which are skipped: a pure function of the clock.

The orchestrator calls :func:`plan_slots` with the schedule's durable state, the time and
whether its previous run is unfinished; it writes the decisions and the new cursor in one
store transaction. Each slot is decided once, as soon as its fire time has come:

- paused: skipped, reason ``paused``;
- older than the catch-up window (the orchestrator was down): skipped, reason ``missed``;
- its previous run unfinished: ``skip`` skips it (reason ``overlap``), ``buffer_one`` keeps
  it (one at most; further ones are skipped) and fires it when the run ends, ``allow_all``
  fires it;
- else it fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.rules.model import Overlap, ScheduleState, ScheduleTrigger
from runtime.rules.slots import fire_time, slots_after

__all__ = ["MAX_DECISIONS", "SlotDecision", "SlotPlan", "plan_slots"]

MAX_DECISIONS = 10_000
"""Slots decided in one call at most; the rest wait for the next call."""


@dataclass(slots=True)
class SlotDecision:
    """One slot: fired (``reason`` None) or skipped with a reason."""

    slot: float
    fire: bool
    reason: str | None = None


@dataclass(slots=True)
class SlotPlan:
    """What to write: the decisions, the new cursor and buffer, and the next fire time."""

    decisions: list[SlotDecision] = field(default_factory=list)
    decided_until: float | None = None
    buffered_slot: float | None = None
    next_fire_at: float | None = None
    """When the next undecided slot fires (None: the schedule has ended)."""

    @property
    def changed(self) -> bool:
        """Whether anything is to be written."""
        return bool(self.decisions)


def plan_slots(
    rule_id: str,
    trigger: ScheduleTrigger,
    state: ScheduleState,
    created_at: float,
    now: float,
    running: bool,
) -> SlotPlan:
    """Decide every slot of a schedule whose fire time is at or before ``now``.

    ``running`` says whether a robot the schedule fired is still unfinished. A buffered
    slot fires first once nothing runs. Raises nothing; a schedule past its end answers an
    empty plan with ``next_fire_at`` None.
    """
    plan = SlotPlan(decided_until=state.decided_until, buffered_slot=state.buffered_slot)
    if plan.buffered_slot is not None and not running and not state.paused:
        plan.decisions.append(SlotDecision(plan.buffered_slot, True))
        plan.buffered_slot = None
        running = True
    after = state.decided_until if state.decided_until is not None else created_at
    for slot in slots_after(trigger, after):
        due = fire_time(rule_id, slot, trigger.jitter_s)
        if due > now or len(plan.decisions) >= MAX_DECISIONS:
            plan.next_fire_at = due
            return plan
        plan.decided_until = slot
        if state.paused:
            plan.decisions.append(SlotDecision(slot, False, "paused"))
        elif now - due > trigger.catchup_window_s:
            plan.decisions.append(SlotDecision(slot, False, "missed"))
        elif running and trigger.overlap is Overlap.SKIP:
            plan.decisions.append(SlotDecision(slot, False, "overlap"))
        elif running and trigger.overlap is Overlap.BUFFER_ONE:
            if plan.buffered_slot is None:
                plan.buffered_slot = slot
                plan.decisions.append(SlotDecision(slot, False, "buffered"))
            else:
                plan.decisions.append(SlotDecision(slot, False, "overlap"))
        else:
            plan.decisions.append(SlotDecision(slot, True))
            running = True
    return plan
