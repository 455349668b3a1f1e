"""``robofleet chaos`` without a deployment: its plan, its counting and its command line."""

from __future__ import annotations

import pytest

from cluster.chaos import DEFAULT_ROBOTS, KILL_FAULTS, ChaosPlan, ChaosReport, plan_from_args, tally
from cluster.cli import build_parser
from runtime.errors import ConfigError


def _report(accepted: list[str]) -> ChaosReport:
    report = ChaosReport()
    report.accepted = {rid: f"key-{rid}" for rid in accepted}
    return report


def test_a_robot_never_terminal_or_missing_is_lost() -> None:
    report = _report(["a", "b", "c"])
    report.missing = {"c"}
    tally(report, {"a": "succeeded"}, {"a": "succeeded"}, {"a": 1})
    assert report.lost == ["b", "c"]
    assert not report.doubled
    assert not report.ok


def test_two_terminal_attempts_or_a_changed_outcome_is_doubled() -> None:
    report = _report(["a", "b", "c"])
    first = {"a": "succeeded", "b": "dead", "c": "succeeded"}
    again = {"a": "succeeded", "b": "succeeded", "c": None}  # c could not be read again
    tally(report, first, again, {"a": 2, "b": 1, "c": 1})
    assert report.lost == []
    assert set(report.doubled) == {"a", "b"}
    assert "2 terminal attempts" in report.doubled["a"]
    assert "dead, then succeeded" in report.doubled["b"]


def test_the_report_prints_each_count_on_its_own_line() -> None:
    report = _report(["a", "b"])
    report.answers.update({"202": 2, "connection error": 3})
    report.faults = [(2.0, "orchestrator killed (Ray restarts it)")]
    tally(report, {"a": "succeeded", "b": "dead"}, {}, {})
    lines = report.lines()
    assert "accepted: 2" in lines
    assert "terminal: 2 (dead 1, succeeded 1)" in lines
    assert "lost: 0" in lines
    assert "doubled: 0" in lines
    assert "answers: 202 x 2, connection error x 3" in lines
    assert report.ok


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"faults": ("replica", "network")}, "unknown fault 'network'"),
        ({"faults": ("postgres",)}, "--restart-postgres"),
        ({"urls": ()}, "no gateway"),
        ({"rate": 0.0}, "must be positive"),
        ({"clients": 0}, "clients >= 1"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_with_the_reason(
    changes: dict[str, object], reason: str
) -> None:
    plan = ChaosPlan(urls=("http://127.0.0.1:8080",), api_key="k")
    plan.check()
    with pytest.raises(ConfigError, match=reason):
        ChaosPlan(**{"urls": ("http://127.0.0.1:8080",), "api_key": "k", **changes}).check()


def test_the_command_line_adds_command_faults_when_their_command_is_given() -> None:
    args = build_parser().parse_args(
        ["chaos", "--api-key", "k", "--restart-redis", "systemctl restart redis", "--rate", "5"]
    )
    plan = plan_from_args(args, ["http://127.0.0.1:8080"])
    assert plan.faults == (*KILL_FAULTS, "redis")
    assert plan.commands == {"redis": "systemctl restart redis"}
    assert plan.robots == DEFAULT_ROBOTS
    assert plan.rate == 5.0
    plan.check()


def test_the_command_line_takes_robots_and_faults_as_given() -> None:
    args = build_parser().parse_args(
        ["chaos", "--faults", "gateway, cache", "--robot", '{"type": "echo", "priority": 9}']
    )
    plan = plan_from_args(args, ["http://127.0.0.1:8080"])
    assert plan.faults == ("gateway", "cache")
    assert plan.robots == ({"type": "echo", "priority": 9},)
    bad = build_parser().parse_args(["chaos", "--robot", "[1, 2]"])
    with pytest.raises(ValueError, match="JSON object"):
        plan_from_args(bad, ["http://127.0.0.1:8080"])
