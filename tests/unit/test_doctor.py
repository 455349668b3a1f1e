"""``robofleet doctor``'s reading of a ``/readyz`` document and its report, without a
deployment: each part that is not ok becomes one problem line with what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.ray.node_clock import NodeClock, NodeFacts
from cluster import doctor_checks
from cluster.client import GatewayClient, GatewayRequestFailed
from cluster.doctor import check_gateway, judge_clocks, print_report
from cluster.doctor_checks import Report, check_disk, check_redis, without_password
from runtime.config import Settings


class Answers(GatewayClient):
    """A gateway client that answers ``/readyz`` with a given document (no network)."""

    def __init__(self, status: int, document: dict[str, Any] | None) -> None:
        super().__init__("http://gateway.test:8080")
        self.answer = (status, document)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        status, document = self.answer
        if document is None:
            raise GatewayRequestFailed(0, f"cannot reach the gateway at {self.url}: refused")
        return status, document


def _module(name: str, **changes: Any) -> dict[str, Any]:
    module = {
        "name": name,
        "status": "ok",
        "health": "healthy",
        "breaker": "closed",
        "queued": 0,
        "replicas": 2,
        "replicas_alive": 2,
        "unplaceable": None,
    }
    return {**module, **changes}


def _document(**details: Any) -> dict[str, Any]:
    base = {
        "orchestrator": "ok",
        "store": {"status": "ok", "kind": "sqlite", "latency_ms": 0.3},
        "cache": {"status": "ok", "entries": 3, "redis_tier": "ok"},
        "redis": {"status": "ok"},
        "modules": [_module("echo")],
        "mailboxes": [],
    }
    return {
        "status": "ready",
        "checks": {"orchestrator": "ok", "store": "ok"},
        "details": {**base, **details},
    }


def _problems(report: Report) -> list[tuple[str, str]]:
    return [(f.check, f.message) for f in report.problems]


def test_a_ready_document_is_healthy():
    report = Report()
    check_gateway(Answers(200, _document()), report, redis_answered=True)
    assert report.problems == []
    assert [(f.check, f.ok) for f in report.findings] == [
        ("gateway", True),
        ("modules", True),
        ("mailboxes", True),
    ]


def test_every_part_that_is_not_ok_is_one_problem():
    document = _document(
        cache={"status": "unavailable", "entries": None, "redis_tier": "not_configured"},
        redis={"status": "down"},
        modules=[
            _module("echo"),
            _module("flaky", status="degraded", breaker="open"),
            _module("gone", status="down", replicas_alive=0, health="unhealthy"),
            _module("big", status="degraded", unplaceable="needs 64 CPUs"),
        ],
        mailboxes=[
            {"name": "invoices", "status": "ok", "last_contact_at": 1.0, "detail": None},
            {"name": "support", "status": "stale", "last_contact_at": None, "detail": "900 s"},
        ],
    )
    report = Report()
    check_gateway(Answers(200, document), report, redis_answered=True)
    assert _problems(report) == [
        ("modules", "module flaky: circuit breaker open, its robots keep failing"),
        ("modules", "module gone has 0 of 2 replicas alive (health unhealthy)"),
        ("modules", "module big cannot be placed: needs 64 CPUs"),
        ("cache", "the cache actor does not answer the gateway"),
        ("redis", "the gateway cannot reach Redis (its rate limits are local to it)"),
        ("mailboxes", "mailbox support is stale (900 s)"),
    ]
    assert all(f.fix for f in report.problems)


def test_redis_down_is_not_reported_twice():
    """When doctor itself cannot reach Redis, the gateway's view of it adds nothing."""
    document = _document(
        redis={"status": "down"}, cache={"status": "ok", "entries": 0, "redis_tier": "down"}
    )
    report = Report()
    check_gateway(Answers(200, document), report, redis_answered=False)
    assert report.problems == []


def test_not_ready_names_the_orchestrator_or_the_store():
    document = _document(orchestrator="unavailable", modules=[])
    document["status"] = "not_ready"
    document["checks"] = {"orchestrator": "unavailable", "store": "unavailable"}
    report = Report()
    check_gateway(Answers(503, document), report, redis_answered=True)
    assert [check for check, _ in _problems(report)] == ["orchestrator", "store"]


def test_an_unreachable_gateway_is_a_problem_with_a_fix():
    report = Report()
    check_gateway(Answers(0, None), report, redis_answered=True)
    [problem] = report.problems
    assert problem.check == "gateway" and "cannot reach the gateway" in problem.message
    assert "robofleet up" in (problem.fix or "")


def test_redis_not_configured_passes():
    report = Report()
    assert check_redis(Settings(redis_url=None), report)
    assert report.problems == []


def test_disk_below_the_floor_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    report = Report()
    check_disk("data dir", tmp_path, report)
    assert report.problems == []
    monkeypatch.setattr(doctor_checks, "MIN_FREE_BYTES", 1 << 62)
    check_disk("backups dir", tmp_path / "backups", report)
    [problem] = report.problems
    assert problem.message.startswith(f"backups dir {tmp_path / 'backups'} (not created yet): ")
    assert "1 GiB and 5% free" in (problem.fix or "")


def test_passwords_are_never_printed():
    assert without_password("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert without_password("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert without_password("redis://cache:6379/0") == "redis://cache:6379/0"


def test_report_ends_with_healthy_or_one_line_per_problem():
    lines: list[str] = []
    report = Report()
    report.ok("store", "SQLite 3.40 at /d/robofleet.db")
    report.versions["python"] = "3.11.7"
    print_report(report, [], lines.append)
    assert lines[-1] == "healthy: every check passed"
    assert "versions: python 3.11.7" in lines

    lines.clear()
    report.problem("redis", "Redis at redis://r:1/0 does not answer", "start Redis")
    print_report(report, ["Ray head: /d/ray-head.log"], lines.append)
    assert lines[-2:] == [
        "1 problem, and what to do:",
        "- redis: Redis at redis://r:1/0 does not answer. Fix: start Redis",
    ]
    assert "logs: Ray head: /d/ray-head.log" in lines


def _clock(address: str, skew_s: float, ray_version: str = "2.40.0") -> NodeClock:
    facts = NodeFacts("host-" + address, 1_700_000_000.0 + skew_s, "3.11.7", ray_version, "0.1.0")
    return NodeClock("node-" + address, address, facts, skew_s, 0.002)


def test_clocks_within_the_bound_pass():
    report = Report()
    judge_clocks([_clock("10.0.0.1", 0.0), _clock("10.0.0.2", 0.4)], report, max_skew_s=1.0)
    [finding] = report.findings
    assert finding.ok and finding.message.startswith("2 nodes, clocks within 0.400 s")


def test_a_node_whose_clock_is_off_is_named():
    clocks = [_clock("10.0.0.1", 0.01), _clock("10.0.0.2", 0.0), _clock("10.0.0.3", -3.2)]
    report = Report()
    judge_clocks(clocks, report, max_skew_s=1.0)
    [problem] = report.problems
    assert problem.check == "clock"
    assert problem.message.startswith("the clocks of nodes 10.0.0.3 and 10.0.0.1 differ by 3.2 s")
    assert "NTP" in (problem.fix or "")


def test_nodes_on_different_versions_are_named():
    clocks = [_clock("10.0.0.1", 0.0), _clock("10.0.0.2", 0.0, ray_version="2.41.0")]
    report = Report()
    judge_clocks(clocks, report, max_skew_s=1.0)
    [problem] = report.problems
    assert (
        problem.message == "the nodes run different ray versions: 10.0.0.1 2.40.0, 10.0.0.2 2.41.0"
    )


def test_webhooks_without_secret_disabled_ones_and_the_dead_letter_are_problems():
    notify = {
        "webhooks": [
            {"name": "billing", "secret": False, "disabled": None},
            {"name": "ops", "secret": True, "disabled": "410 Gone at 2026-12-01T03:00:00Z"},
            {"name": "audit", "secret": True, "disabled": None},
        ],
        "dead": 3,
    }
    report = Report()
    check_gateway(Answers(200, _document(notify=notify)), report, redis_answered=True)
    problems = _problems(report)
    assert problems == [
        ("notifications", "webhook billing: its secrets_env is not set where robofleet up runs, "
                          "so every delivery to it goes dead"),
        ("notifications", "webhook ops is disabled: 410 Gone at 2026-12-01T03:00:00Z"),
        ("notifications", "3 deliveries in the dead letter"),
    ]  # fmt: skip
    fixes = [f.fix or "" for f in report.problems]
    assert "environment of `robofleet up`" in fixes[0]
    assert "robofleet notifications enable ops" in fixes[1]
    assert "robofleet notifications replay" in fixes[2]
    assert ("notifications", True) in [(f.check, f.ok) for f in report.findings]


def test_no_webhooks_and_an_empty_dead_letter_pass():
    report = Report()
    notify = {"webhooks": [], "dead": 0}
    check_gateway(Answers(200, _document(notify=notify)), report, redis_answered=True)
    assert report.problems == []
