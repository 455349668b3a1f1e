"""Schedules without Ray: slots by cron and interval, time zones with a daylight-saving
change, the overlap policies and catch-up window, exactly-once slots across a restart.

The rule keeper runs on a real SQLite store with an injected clock and a small fleet that
records what it is given to queue.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from actors.rules import RuleKeeper
from runtime.errors import RuleExists, RuleRejected, UnknownRule
from runtime.models import FiringOutcome, Robot
from runtime.rules.model import Rule, ScheduleState, ScheduleTrigger
from runtime.rules.plan import plan_slots
from runtime.rules.slots import fire_time
from runtime.store import SqliteStore
from tests.unit.fakes import Clock

MADRID = ZoneInfo("Europe/Madrid")


class Fleet:
    """Handles every type; robots it is given stay unfinished until ``finish``."""

    def __init__(self) -> None:
        self.accepted: list[Robot] = []
        self.open: set[str] = set()

    def handles(self, robot_type: str) -> bool:
        return True

    def queued(self, robot_type: str) -> int:
        return 0

    def unfinished(self, robot_id: str) -> bool:
        return robot_id in self.open

    def accept(self, robots: list[Robot]) -> None:
        self.accepted.extend(robots)
        self.open.update(r.id for r in robots)

    def finish(self) -> None:
        self.open.clear()


def schedule(rule_id: str = "tick", **trigger: Any) -> Rule:
    """A schedule rule submitting a ``task`` robot whose payload carries its slot."""
    return Rule.model_validate(
        {
            "id": rule_id,
            "on": {"schedule": trigger},
            "do": {"submit": {"type": "task", "map": {"slot": "slot", "local": "slot_iso"}}},
        }
    )


async def keeper_on(
    tmp_path: Path, clock: Clock, fleet: Fleet | None = None
) -> tuple[RuleKeeper, SqliteStore, Fleet]:
    store = SqliteStore(tmp_path / "robofleet.db")
    await store.open()
    fleet = fleet or Fleet()
    keeper = RuleKeeper(store, fleet, clock)
    await keeper.load([])
    return keeper, store, fleet


async def run_until(
    keeper: RuleKeeper, clock: Clock, rule_id: str, end: float, step: float, between=None
) -> None:
    """Move the clock to ``end`` by ``step``, deciding the schedule at each tick."""
    while clock.now < end:
        clock.now = min(end, clock.now + step)
        await keeper._decide(rule_id)
        if between is not None:
            between()


def local_times(robots: list[Robot]) -> list[str]:
    return [
        datetime.fromtimestamp(r.payload["slot"], MADRID).strftime("%Y-%m-%d %H:%M %z")
        for r in robots
    ]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        # Spring forward (29 March 2026, 02:00 → 03:00): 02:30 does not exist that day and
        # fires once, at 03:00 CEST; 09:00 stays 09:00 local on both sides of the change.
        (
            "30 2 * * *",
            ["2026-03-28 02:30 +0100", "2026-03-29 03:00 +0200", "2026-03-30 02:30 +0200"],
        ),
        (
            "0 9 * * *",
            ["2026-03-28 09:00 +0100", "2026-03-29 09:00 +0200", "2026-03-30 09:00 +0200"],
        ),
    ],
)
async def test_cron_in_madrid_fires_at_local_times_across_spring_forward(
    tmp_path: Path, cron: str, expected: list[str]
) -> None:
    clock = Clock(datetime(2026, 3, 27, 12, tzinfo=MADRID).timestamp())
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule(cron=cron, timezone="Europe/Madrid"))
        end = datetime(2026, 3, 30, 12, tzinfo=MADRID).timestamp()
        await run_until(keeper, clock, "tick", end, 60.0, fleet.finish)
        assert local_times(fleet.accepted) == expected
        assert (
            fleet.accepted[1].payload["local"]
            == expected[1].replace(" ", "T", 1)[:16] + ":00+02:00"
        )
    finally:
        await store.close()


async def test_cron_in_madrid_fires_once_in_the_repeated_hour_of_fall_back(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 10, 24, 12, tzinfo=MADRID).timestamp())
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule("fixed", cron="30 2 * * *", timezone="Europe/Madrid"))
        await keeper.create(schedule("hourly", cron="30 * * * *", timezone="Europe/Madrid"))
        end = datetime(2026, 10, 26, 4, tzinfo=MADRID).timestamp()
        while clock.now < end:
            clock.now += 60.0
            await keeper._decide("fixed")
            await keeper._decide("hourly")
            fleet.finish()
        fixed = [r for r in fleet.accepted if r.rule_id == "fixed"]
        assert local_times(fixed) == [
            "2026-10-25 02:30 +0200",  # the first 02:30; the repeated one (CET) does not fire
            "2026-10-26 02:30 +0100",
        ]
        hourly = local_times([r for r in fleet.accepted if r.rule_id == "hourly"])
        # Every elapsed hour fires: 02:30 twice on the fall-back night, an hour apart.
        assert hourly.count("2026-10-25 02:30 +0200") == 1
        assert hourly.count("2026-10-25 02:30 +0100") == 1
        assert len(hourly) == 41  # 12:30 on the 24th to 03:30 on the 26th: 40 h + the extra hour
    finally:
        await store.close()


async def test_interval_slots_fire_once_each_and_skip_overlaps(tmp_path: Path) -> None:
    clock = Clock(1_000_000.5)
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule(every_s=2))
        await run_until(keeper, clock, "tick", 1_000_010.5, 0.25)
        # Nothing finishes: the first slot fires, each later one is skipped (overlap).
        assert [r.payload["slot"] for r in fleet.accepted] == [1_000_002.0]
        record = keeper.get("tick")
        assert record.state.fired == 1
        assert record.state.skipped == {"overlap": 4}
        fleet.finish()
        await run_until(keeper, clock, "tick", 1_000_012.5, 0.25)
        assert [r.payload["slot"] for r in fleet.accepted] == [1_000_002.0, 1_000_012.0]
        firings = await store.list_firings("tick", limit=100)
        outcomes = sorted((f.source, f.outcome.value, f.detail) for f in firings)
        assert outcomes == [
            ("slot:1000002.000", "fired", None),
            ("slot:1000004.000", "skipped", "overlap"),
            ("slot:1000006.000", "skipped", "overlap"),
            ("slot:1000008.000", "skipped", "overlap"),
            ("slot:1000010.000", "skipped", "overlap"),
            ("slot:1000012.000", "fired", None),
        ]
        stored = await store.get_robot(fleet.accepted[0].id)
        assert stored is not None
        assert stored.rule_id == "tick"
        assert stored.idempotency_key == "rule:tick:slot:1000002.000"
    finally:
        await store.close()


async def test_buffer_one_keeps_one_slot_and_allow_all_fires_every_slot(tmp_path: Path) -> None:
    clock = Clock(2_000_000.5)
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule("buffered", every_s=2, overlap="buffer_one"))
        await keeper.create(schedule("all", every_s=2, overlap="allow_all"))
        while clock.now < 2_000_008.5:
            clock.now += 0.25
            await keeper._decide("buffered")
            await keeper._decide("all")
        buffered = [r.payload["slot"] for r in fleet.accepted if r.rule_id == "buffered"]
        every = [r.payload["slot"] for r in fleet.accepted if r.rule_id == "all"]
        assert buffered == [2_000_002.0]
        assert every == [2_000_002.0, 2_000_004.0, 2_000_006.0, 2_000_008.0]
        assert keeper.get("buffered").state.skipped == {"overlap": 2}  # 6 and 8; 4 is kept
        fleet.finish()
        clock.now += 0.1
        await keeper._decide("buffered")
        buffered = [r.payload["slot"] for r in fleet.accepted if r.rule_id == "buffered"]
        assert buffered == [2_000_002.0, 2_000_004.0]  # the kept slot fires once the run ends
    finally:
        await store.close()


async def test_a_restart_neither_skips_nor_doubles_and_old_slots_are_missed(
    tmp_path: Path,
) -> None:
    clock = Clock(3_000_000.5)
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    await keeper.create(schedule(every_s=2, catchup_window_s=5))
    await run_until(keeper, clock, "tick", 3_000_006.5, 0.25, fleet.finish)
    await store.close()
    # Down for 11 s: slots 8..16 came due; those older than 5 s are missed, then one fires
    # (catch-up) and the next within the window is an overlap of it.
    clock.now = 3_000_017.5
    keeper, store, fleet2 = await keeper_on(tmp_path, clock)
    try:
        await keeper._decide("tick")
        await run_until(keeper, clock, "tick", 3_000_020.5, 0.25, fleet2.finish)
        slots = [r.payload["slot"] for r in fleet.accepted + fleet2.accepted]
        assert slots == [
            3_000_002.0,
            3_000_004.0,
            3_000_006.0,
            3_000_014.0,
            3_000_018.0,
            3_000_020.0,
        ]
        firings = await store.list_firings("tick", limit=100)
        decided = sorted((float(f.source.split(":")[1]), f.outcome, f.detail) for f in firings)
        assert [slot for slot, _, _ in decided] == [3_000_000.0 + 2 * n for n in range(1, 11)]
        assert [d for _, o, d in decided if o is FiringOutcome.SKIPPED] == [
            "missed",
            "missed",
            "missed",
            "overlap",
        ]
        assert keeper.get("tick").state.skipped == {"missed": 3, "overlap": 1}
    finally:
        await store.close()


async def test_a_second_writer_on_an_old_version_writes_nothing(tmp_path: Path) -> None:
    clock = Clock(4_000_000.5)
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule(every_s=2, overlap="allow_all"))
        stale = (await store.get_rule("tick")).state  # type: ignore[union-attr]
        clock.now += 2
        await keeper._decide("tick")
        moved = ScheduleState(decided_until=clock.now, fired=99)
        assert await store.advance_schedule("tick", stale.version, moved, [], []) is None
        assert (await store.get_rule("tick")).state.fired == 1  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_pause_resume_trigger_backfill_and_delete(tmp_path: Path) -> None:
    clock = Clock(5_000_000.5)
    keeper, store, fleet = await keeper_on(tmp_path, clock)
    try:
        await keeper.create(schedule(every_s=2, overlap="allow_all"))
        with pytest.raises(RuleExists):
            await keeper.create(schedule(every_s=5))
        await keeper.set_paused("tick", True)
        await run_until(keeper, clock, "tick", 5_000_004.5, 0.25)
        assert fleet.accepted == []
        assert keeper.get("tick").state.skipped == {"paused": 2}
        await keeper.set_paused("tick", False)
        await run_until(keeper, clock, "tick", 5_000_006.5, 0.25)
        assert [r.payload["slot"] for r in fleet.accepted] == [5_000_006.0]
        answer = await keeper.trigger("tick")
        assert answer.fired == 1 and len(fleet.accepted) == 2
        # Backfill: the two paused slots fire; the one fired already is found, not doubled.
        answer = await keeper.backfill("tick", 5_000_001.0, 5_000_006.0)
        assert (answer.fired, answer.skipped) == (2, 1)
        slots = sorted(r.payload["slot"] for r in fleet.accepted if "slot" in r.payload)
        assert slots[:3] == [5_000_002.0, 5_000_004.0, 5_000_006.0]
        with pytest.raises(RuleRejected):
            await keeper.backfill("tick", 5_000_000.0, clock.now + 60)
        with pytest.raises(RuleRejected):
            await keeper.backfill("tick", 0, 5_000_000.0)  # over 1,000 slots
        await keeper.delete("tick")
        with pytest.raises(UnknownRule):
            keeper.get("tick")
    finally:
        await store.close()


def test_plan_skips_every_slot_past_the_end() -> None:
    trigger = ScheduleTrigger(every_s=10, start_at=100, end_at=130)
    plan = plan_slots("x", trigger, ScheduleState(), 0.0, 1000.0, running=False)
    assert [d.slot for d in plan.decisions] == [100.0, 110.0, 120.0, 130.0]
    assert plan.next_fire_at is None


def test_jitter_delays_a_slot_the_same_way_every_time() -> None:
    trigger = ScheduleTrigger(every_s=60, jitter_s=30)

    def first_fired() -> int:
        return next(
            t
            for t in range(60, 91)
            if plan_slots("j", trigger, ScheduleState(decided_until=0), 0, t, False).decisions
        )

    assert first_fired() == first_fired()
    assert 60 <= first_fired() <= 90
    assert fire_time("j", 60.0, 30) == fire_time("j", 60.0, 30) != fire_time("k", 60.0, 30)


@pytest.mark.parametrize(
    "trigger",
    [
        {"cron": "61 * * * *"},
        {"cron": "* * * * *", "every_s": 5},
        {},
        {"every_s": 5, "timezone": "Mars/Olympus"},
        {"every_s": 0.5},
        {"every_s": 5, "start_at": 10, "end_at": 5},
    ],
)
def test_bad_schedules_are_refused(trigger: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        schedule(**trigger)


class TaskOnlyFleet(Fleet):
    """Handles only ``task`` robots."""

    def handles(self, robot_type: str) -> bool:
        return robot_type == "task"


async def test_a_rule_submitting_a_type_no_module_handles_is_refused_at_save(
    tmp_path: Path,
) -> None:
    keeper, store, _ = await keeper_on(tmp_path, Clock(1_764_547_200.0), TaskOnlyFleet())
    try:
        bad = Rule.model_validate(
            {
                "id": "nowhere",
                "on": {"robot": {"type": "task"}},
                "do": {"submit": {"type": "no.such.type"}},
            }
        )
        with pytest.raises(RuleRejected, match="'no.such.type', which no module handles"):
            await keeper.create(bad)
        assert await store.get_rule("nowhere") is None
        nightly = schedule("nightly", cron="0 2 * * *").model_dump(by_alias=True)
        nightly["do"]["submit"]["type"] = "report"
        with pytest.raises(RuleRejected, match="'report', which no module handles"):
            await keeper.create(Rule.model_validate(nightly))
        await keeper.create(schedule(cron="0 2 * * *"))  # a type a module handles is kept
        assert await store.get_rule("tick") is not None
        # a running or metric rule watching such a type would never fire: refused too
        inapp = {"channel": "inapp", "recipients": ["ops"],
                 "template": {"en": {"subject": "s", "text": "t"}}}  # fmt: skip
        for rule_id, on in (
            ("slow-typo", {"running": {"type": "tsak", "longer_than_s": 5}}),
            ("metric-typo", {"metric": {"figure": "queue_depth", "type": "tsak", "op": ">",
                                        "value": 1}}),  # fmt: skip
        ):
            watching = Rule.model_validate({"id": rule_id, "on": on, "do": {"notify": inapp}})
            with pytest.raises(RuleRejected, match="'tsak', which no module handles"):
                await keeper.create(watching)
            assert await store.get_rule(rule_id) is None
    finally:
        await store.close()
