"""The shipped Prometheus alerting rules load, and each has a firing and a not-firing case
that ``promtool test rules`` passes (promtool comes from Debian's ``prometheus`` package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import ROOT, service_missing

RULES = ROOT / "cluster" / "alerts" / "robofleet-alerts.yml"
RULE_TESTS = RULES.with_name("robofleet-alerts.test.yml")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        service_missing("promtool is not installed (apt-get install prometheus)")
    assert path is not None
    return path


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )


def test_promtool_check_rules_accepts_the_rules_file():
    result = _run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_test_rules_passes_every_case():
    result = _run("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_fails_when_a_case_expects_the_wrong_thing(tmp_path: Path):
    """The test file is not vacuous: turning a not-firing case into a firing one fails."""
    cases = yaml.safe_load(RULE_TESTS.read_text())
    # Only the Redis cases, to keep promtool's run short.
    cases["tests"] = [
        test
        for test in cases["tests"]
        if all(c["alertname"] == "RobofleetRedisDown" for c in test.get("alert_rule_test", []))
    ]
    quiet = next(
        check
        for test in cases["tests"]
        for check in test.get("alert_rule_test", [])
        if check["alertname"] == "RobofleetRedisDown" and not check["exp_alerts"]
    )
    quiet["exp_alerts"] = [{"exp_labels": {"severity": "warning"}}]
    cases["rule_files"] = [str(RULES)]
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(cases))
    result = _run("test", "rules", str(broken))
    assert result.returncode != 0
    assert "RobofleetRedisDown" in result.stdout + result.stderr


@pytest.mark.parametrize("alert", [a["alert"] for a in _alerts()])
def test_each_rule_has_labels_annotations_and_both_kinds_of_case(alert: str):
    rule = next(r for r in _alerts() if r["alert"] == alert)
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert "for" in rule
    checks = [
        check
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for check in test.get("alert_rule_test", [])
        if check["alertname"] == alert
    ]
    assert any(check["exp_alerts"] for check in checks), f"{alert} has no firing case"
    assert any(not check["exp_alerts"] for check in checks), f"{alert} has no not-firing case"


def test_the_rules_cover_what_issue_16_asks_for():
    names = {a["alert"] for a in _alerts()}
    assert names == {
        "RobofleetQueueDepthHigh",
        "RobofleetRobotsOverdue",
        "RobofleetBreakerOpen",
        "RobofleetStoreUnreachable",
        "RobofleetRedisDown",
        "RobofleetBackupNotVerified",
        "RobofleetMailboxStale",
        "RobofleetRobotErrorRatioHigh",
        "RobofleetGateway5xx",
    }
