"""Rules on robots running long and on metric thresholds, without Ray: an injected clock, a
real SQLite store and a small fleet whose robots and figures the test sets.

A running rule fires once per attempt, not before N seconds, never for a robot that ended
sooner, and not again after a restart; a metric rule fires once its condition has held
``for_s``, not when it dips before, and records a resolved firing when it stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from actors.rules import RuleKeeper
from cluster.rules_cli import _watched
from gateway.errors import ApiError
from gateway.http import parse
from gateway.openapi import build_openapi
from runtime.config import load_settings
from runtime.errors import ConfigError
from runtime.messages import RobotFigures
from runtime.models import FiringOutcome, Robot, RobotRequest, RobotStatus
from runtime.notify.outbox import DeliveryState
from runtime.rules.model import Rule
from runtime.rules.watches import ErrorWindow, MetricHold
from runtime.store import SqliteStore
from tests.unit.fakes import Clock

T0 = 1_800_000_000.0


class Fleet:
    """Robots and figures the test sets; robots rules submit are kept in ``accepted``."""

    def __init__(self) -> None:
        self.robots: dict[str, Robot] = {}
        self.figures = RobotFigures()
        self.accepted: list[Robot] = []

    def handles(self, robot_type: str) -> bool:
        return True

    def queued(self, robot_type: str) -> int:
        return 0

    def unfinished(self, robot_id: str) -> bool:
        return robot_id in self.robots

    def accept(self, robots: list[Robot]) -> None:
        self.accepted.extend(robots)

    def robot_figures(self) -> RobotFigures:
        return self.figures

    def run(self, robot_id: str, robot_type: str, started_at: float, attempt: int = 1) -> Robot:
        """A robot running its ``attempt`` since ``started_at``."""
        robot = Robot.accepted(robot_id, RobotRequest(type=robot_type), started_at)
        robot.status = RobotStatus.RUNNING
        robot.started_at = started_at
        robot.attempt = attempt
        self.robots[robot_id] = robot
        return robot


def notify_rule(rule_id: str, on: dict[str, Any]) -> Rule:
    """A rule that notifies the in-app feed of ``ops``."""
    return Rule.model_validate(
        {
            "id": rule_id,
            "on": on,
            "do": {
                "notify": {
                    "channel": "inapp",
                    "recipients": ["ops"],
                    "template": {"en": {"subject": "s", "text": "{{ id }} {{ value }}"}},
                }
            },
        }
    )


async def keeper_with(store: SqliteStore, fleet: Fleet, clock: Clock, *rules: Rule) -> RuleKeeper:
    keeper = RuleKeeper(store, fleet, clock)
    await keeper.load(list(rules))
    return keeper


async def tick(keeper: RuleKeeper, clock: Clock, to: float) -> None:
    """Move the clock to ``to`` and let the keeper read."""
    clock.now = to
    await keeper.watch()


async def deliveries(store: SqliteStore) -> int:
    return await store.count_deliveries(DeliveryState.PENDING)


# -- running longer than N s ---------------------------------------------------------------


async def test_a_robot_running_past_n_fires_once_and_not_before(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    rule = notify_rule("slow", {"running": {"type": "sleep", "longer_than_s": 10}})
    keeper = await keeper_with(store, fleet, clock, rule)
    fleet.run("r1", "sleep", T0)
    fleet.run("other", "echo", T0)  # another type: never
    for at in (T0 + 1, T0 + 5, T0 + 10):
        await tick(keeper, clock, at)
    assert await store.list_firings("slow") == []
    for at in (T0 + 11, T0 + 12, T0 + 20, T0 + 60):
        await tick(keeper, clock, at)
    [firing] = await store.list_firings("slow")
    assert firing.outcome is FiringOutcome.FIRED
    assert firing.source == "running:r1:1"
    assert firing.at == T0 + 10
    assert await deliveries(store) == 1


async def test_a_firing_that_stores_deliveries_nudges_the_notifier(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    rule = notify_rule("slow", {"running": {"type": "sleep", "longer_than_s": 10}})
    keeper = await keeper_with(store, fleet, clock, rule)
    nudges: list[float] = []
    keeper.after_deliveries = lambda: nudges.append(clock.now)
    fleet.run("r1", "sleep", T0)
    await tick(keeper, clock, T0 + 5)
    assert nudges == []  # nothing stored, nothing to wake for
    await tick(keeper, clock, T0 + 11)
    assert nudges == [T0 + 11] and await deliveries(store) == 1


async def test_a_robot_that_ends_before_n_never_fires(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    keeper = await keeper_with(
        store, fleet, clock, notify_rule("slow", {"running": {"longer_than_s": 10}})
    )
    fleet.run("r1", "sleep", T0)
    await tick(keeper, clock, T0 + 9)
    del fleet.robots["r1"]  # it ended
    for at in (T0 + 11, T0 + 30):
        await tick(keeper, clock, at)
    assert await store.list_firings("slow") == []
    assert await deliveries(store) == 0


async def test_once_per_attempt_and_not_again_after_a_restart(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    rule = notify_rule("slow", {"running": {"longer_than_s": 10}})
    keeper = await keeper_with(store, fleet, clock, rule)
    fleet.run("r1", "sleep", T0)
    await tick(keeper, clock, T0 + 11)
    # a new keeper (an orchestrator restart) sees the same attempt still running
    again = await keeper_with(store, fleet, clock, rule)
    await tick(again, clock, T0 + 12)
    assert [f.source for f in await store.list_firings("slow")] == ["running:r1:1"]
    assert await deliveries(store) == 1
    # the next attempt is another firing, once
    fleet.run("r1", "sleep", T0 + 20, attempt=2)
    for at in (T0 + 25, T0 + 31, T0 + 40):
        await tick(again, clock, at)
    assert [f.source for f in await store.list_firings("slow")] == [
        "running:r1:2",
        "running:r1:1",
    ]
    assert await deliveries(store) == 2


async def test_a_failed_firing_write_is_written_at_the_next_reading(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, fleet = Clock(T0), Fleet()
    keeper = await keeper_with(
        store, fleet, clock, notify_rule("slow", {"running": {"longer_than_s": 10}})
    )
    fleet.run("r1", "sleep", T0)
    record = store.record_firings

    async def unavailable(firings: Any) -> None:
        raise OSError("store unavailable")

    monkeypatch.setattr(store, "record_firings", unavailable)
    await tick(keeper, clock, T0 + 11)  # the delivery is written, the firing is not
    monkeypatch.setattr(store, "record_firings", record)
    await tick(keeper, clock, T0 + 12)
    await tick(keeper, clock, T0 + 13)
    [delivery] = (await store.list_deliveries()).deliveries
    [firing] = await store.list_firings("slow")
    assert delivery.id in (firing.detail or "")  # the stored delivery, not a new one


async def test_a_running_rule_may_submit_a_robot_once(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    rule = Rule.model_validate(
        {
            "id": "escalate",
            "on": {"running": {"type": "sleep", "longer_than_s": 5}},
            "do": {"submit": {"type": "page", "map": {"robot": "id", "ran": "running_s"}}},
        }
    )
    keeper = await keeper_with(store, fleet, clock, rule)
    fleet.run("r1", "sleep", T0)
    await tick(keeper, clock, T0 + 6)
    again = await keeper_with(store, fleet, clock, rule)
    await tick(again, clock, T0 + 7)
    [robot] = fleet.accepted
    assert robot.payload == {"robot": "r1", "ran": 6.0}
    [firing] = await store.list_firings("escalate")
    assert firing.robot_id == robot.id


# -- metric thresholds ----------------------------------------------------------------------


def backlog_rule(for_s: float = 10) -> Rule:
    return notify_rule(
        "backlog",
        {
            "metric": {
                "figure": "queue_depth",
                "module": "ocr",
                "op": ">",
                "value": 5,
                "for_s": for_s,
            }
        },
    )


async def test_a_metric_fires_after_holding_for_s_then_resolves(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    keeper = await keeper_with(store, fleet, clock, backlog_rule())
    readings = [
        (0, 6),  # holds...
        (5, 3),  # ...and dips before for_s: nothing
        (6, 6),  # holds again from here
        (15, 7),  # 9 s: not yet
        (16, 9),  # 10 s: fires
        (17, 9),
        (30, 8),  # still holding: no second firing
    ]
    for at, depth in readings:
        fleet.figures.queue_depth = {"ocr": depth}
        await tick(keeper, clock, T0 + at)
    [fired] = await store.list_firings("backlog")
    assert fired.outcome is FiringOutcome.FIRED
    assert fired.source == f"metric:{T0 + 6:.3f}"
    assert "queue_depth{module=ocr} = 9 > 5" in (fired.detail or "")
    assert await deliveries(store) == 1
    fleet.figures.queue_depth = {"ocr": 5}  # no longer > 5
    await tick(keeper, clock, T0 + 31)
    await tick(keeper, clock, T0 + 32)
    resolved, first = await store.list_firings("backlog")
    assert first == fired
    assert resolved.outcome is FiringOutcome.RESOLVED
    assert resolved.source == fired.source
    assert await deliveries(store) == 1


async def test_a_fired_metric_does_not_fire_again_after_a_restart(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    fleet.figures.queue_depth = {"ocr": 8}
    keeper = await keeper_with(store, fleet, clock, backlog_rule(for_s=2))
    for at in (0, 1, 2, 3):
        await tick(keeper, clock, T0 + at)
    again = await keeper_with(store, fleet, clock, backlog_rule(for_s=2))
    for at in (4, 5, 9):
        await tick(again, clock, T0 + at)
    assert [f.outcome for f in await store.list_firings("backlog")] == [FiringOutcome.FIRED]
    fleet.figures.queue_depth = {}
    await tick(again, clock, T0 + 10)
    assert [f.outcome for f in await store.list_firings("backlog")] == [
        FiringOutcome.RESOLVED,
        FiringOutcome.FIRED,
    ]
    assert await deliveries(store) == 1


async def test_figures_in_flight_robots_and_error_ratio(store: SqliteStore) -> None:
    clock, fleet = Clock(T0), Fleet()
    rules = [
        notify_rule("busy", {"metric": {"figure": "in_flight", "op": ">=", "value": 3}}),
        notify_rule(
            "waiting",
            {"metric": {"figure": "robots", "status": "queued", "op": ">", "value": 100}},
        ),
        notify_rule(
            "failing",
            {
                "metric": {
                    "figure": "error_ratio",
                    "type": "inv",
                    "window_s": 10,
                    "op": ">=",
                    "value": 0.5,
                }
            },
        ),
    ]
    keeper = await keeper_with(store, fleet, clock, *rules)
    fleet.figures.in_flight = {"a": {"a:0": 1}, "b": {"b:0": 2}}
    fleet.figures.active = {"queued": 100, "running": 3}
    fleet.figures.outcomes = {"inv": {"succeeded": 10}}
    await tick(keeper, clock, T0)
    fleet.figures.outcomes = {"inv": {"succeeded": 12, "failed": 1, "dead": 1}}
    await tick(keeper, clock, T0 + 1)  # 2 bad of 4 ended in the window
    assert len(await store.list_firings("busy")) == 1
    assert await store.list_firings("waiting") == []  # 100 is not > 100
    [failing] = await store.list_firings("failing")
    assert "= 0.5 >= 0.5" in (failing.detail or "")


def test_the_error_window_reads_growth_over_the_window() -> None:
    window = ErrorWindow(keep_s=12)
    assert window.ratio(0, 0, 0, 10) is None  # nothing ended yet
    assert window.ratio(1, 1, 4, 10) == 0.25
    assert window.ratio(11, 1, 8, 10) == 0.0  # from the sample at 1: 0 bad of 4
    assert window.ratio(30, 1, 8, 10) is None  # nothing ended in the last 10 s


def test_the_hold_fires_once_and_resolves() -> None:
    hold = MetricHold()
    assert hold.step(True, 0, 5) is None
    assert hold.step(True, 5, 5) == "fire"
    assert hold.step(True, 6, 5) == "fire"  # not written yet: asked again
    hold.commit("fire")
    assert hold.step(True, 7, 5) is None
    assert hold.step(False, 8, 5) == "resolve"
    hold.commit("resolve")
    assert hold.step(False, 9, 5) is None
    assert (hold.since, hold.firing) == (None, False)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "message"),
    [
        ({"running": {"longer_than_s": 0}}, "greater than or equal to 1"),
        ({"running": {"type": "sleep"}}, "longer_than_s"),
        (
            {"metric": {"figure": "queue_depth", "op": ">", "value": 1}},
            "needs exactly one of module and type",
        ),
        (
            {
                "metric": {
                    "figure": "robots",
                    "status": "queued",
                    "module": "m",
                    "op": ">",
                    "value": 1,
                }
            },
            "figure 'robots' takes no 'module'",
        ),
        ({"metric": {"figure": "robots", "op": ">", "value": 1}}, "needs a status"),
        (
            {"metric": {"figure": "error_ratio", "op": ">", "value": 0.1}},
            "needs window_s",
        ),
        (
            {"metric": {"figure": "error_ratio", "window_s": 60, "op": ">", "value": 2}},
            "from 0 to 1",
        ),
        ({"metric": {"figure": "in_flight", "op": "==", "value": 1}}, "op"),
        ({"metric": {"figure": "latency", "op": ">", "value": 1}}, "figure"),
        ({"metric": {"figure": "in_flight", "op": ">", "value": 1, "for_s": -1}}, "for_s"),
    ],
)
def test_bad_fields_are_a_422_that_says_which(on: dict[str, Any], message: str) -> None:
    body = {"id": "r", "on": on, "do": {"submit": {"type": "t"}}}
    with pytest.raises(ApiError) as refused:
        parse(Rule, body)
    assert refused.value.http_status == 422
    assert message in str(refused.value)


def test_notify_on_a_queue_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="on.running"):
        notify_rule("q", {"queue": {"type": "t", "items": 1}})


def test_the_openapi_rule_body_has_both_triggers() -> None:
    schemas = build_openapi()["components"]["schemas"]
    assert {"running", "metric"} <= set(schemas["Trigger"]["properties"])
    metric = schemas["MetricTrigger"]["properties"]
    assert set(metric["op"]["enum"]) == {">", ">=", "<", "<="}
    assert {"queue_depth", "in_flight", "robots", "error_ratio"} == set(metric["figure"]["enum"])
    assert "longer_than_s" in schemas["RunningTrigger"]["required"]


def test_the_cli_lists_what_each_rule_watches() -> None:
    running = notify_rule("slow", {"running": {"longer_than_s": 30}})
    metric = notify_rule(
        "failing",
        {
            "metric": {
                "figure": "error_ratio",
                "window_s": 300,
                "op": ">=",
                "value": 0.2,
                "for_s": 60,
            }
        },
    )
    on = [r.model_dump(mode="json")["on"] for r in (running, metric)]
    assert _watched(on[0]) == "any > 30s"
    assert _watched(on[1]) == "error_ratio{window_s=300} >= 0.2 for 60s"


def test_the_readme_examples_load_from_a_config_file(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = next(b for b in readme.split("```toml")[1:] if 'id = "slow-ocr"' in b)
    config = tmp_path / "robofleet.toml"
    config.write_text(block.split("```")[0])
    settings = load_settings(config)
    kinds = {rule.id: rule.on.kind for rule in settings.rules}
    assert kinds == {"slow-ocr": "running", "failing-invoices": "metric"}
    bad = block.split("```")[0].replace("longer_than_s = 120", "longer_than_s = -1")
    config.write_text(bad)
    with pytest.raises(ConfigError, match="longer_than_s"):
        load_settings(config)
