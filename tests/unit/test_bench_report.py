"""The benchmark report: what a reader of ``latest.md`` is shown from a results document."""

from __future__ import annotations

from typing import Any

from bench import report


def level(connections: int, rate: float, p99: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "connections": connections,
        "accepted_per_s": rate,
        "requests_per_s": rate,
        "p50_ms": p99 / 2,
        "p95_ms": p99 * 0.9,
        "p99_ms": p99,
        "errors": 0,
        "cpu_us_per_request": cpu,
    }


def results() -> dict[str, Any]:
    scenarios = {
        "submit": {
            "postgresql": [
                level(1, 300, 9.0, {}),
                level(64, 4000, 27.0, {"gateway": 140.0, "orchestrator": 90.0, "total": 230.0})
                | {"p99_runs_ms": [24.5, 27.0, 31.25]},
            ]
        },
        "floor": {"levels": [level(64, 18000, 6.0, {"floor server": 50.0, "total": 60.0})]},
        "e2e": {
            "postgresql": {
                "robots": 100,
                "robots_per_s": 1000.0,
                "submit_per_s": 1100.0,
                "cpu_us_per_robot": {"gateway": 300.0, "orchestrator": 500.0, "total": 800.0},
            }
        },
    }
    ratios = report.ratios(scenarios)
    return {
        "machine": {
            "cores": 2,
            "cpu": "test",
            "memory_gib": 1,
            "os": "Linux",
            "python": "3.11",
            "versions": {},
            "git": {"commit": "abc"},
            "load_average": [0, 0, 0],
        },
        "scenarios": scenarios,
        "ratios": ratios,
        "headline": report.headline(scenarios, ratios),
    }


def test_what_robofleet_adds_over_the_http_floor_is_the_difference_of_their_p99() -> None:
    data = results()
    assert data["ratios"]["submit_p99_over_floor_ms[postgresql@64]"] == 21.0
    assert "| 64 | 18,000 | 3.00 | 6.00 | 0 | 21.00 |" in report.markdown(data)


def test_cpu_is_tabled_by_process_at_64_connections_and_per_robot_end_to_end() -> None:
    text = report.markdown(results())
    assert "### CPU per answered request, µs, by process: at 64 connections" in text
    assert "| run | floor server | gateway | orchestrator | total |" in text
    assert "| robofleet submit (postgresql) | - | 140.0 | 90.0 | 230.0 |" in text
    assert "| robofleet end to end (postgresql) | - | 300.0 | 500.0 | 800.0 |" in text
    assert "| HTTP floor | 50.0 | - | - | 60.0 |" in text


def test_the_submit_table_shows_the_p99_of_every_run_beside_the_median() -> None:
    text = report.markdown(results())
    assert "| postgresql | 64 | 4,000 | 13.50 | 24.30 | 27.00 | 24.5 / 27.0 / 31.2 | 0 |" in text
    assert "| postgresql | 1 | 300 | 4.50 | 8.10 | 9.00 | - | 0 |" in text


def backlog_point(queued: int, rate: float, orchestrator_us: float) -> dict[str, Any]:
    cpu = {"gateway": 120.0, "orchestrator": orchestrator_us, "total": 120.0 + orchestrator_us}
    return {
        "queued": queued,
        "accepted_per_s": rate,
        "p50_ms": 15.0,
        "p99_ms": 30.0,
        "errors": 0,
        "orchestrator_us_per_robot": orchestrator_us,
        "cpu_us_per_robot": cpu,
    }


def test_the_backlog_gives_full_over_empty_ratios_and_the_rss_at_its_reading() -> None:
    data = results()
    data["scenarios"]["backlog"] = {
        "store": "sqlite",
        "connections": 64,
        "window_s": 3.0,
        "empty": backlog_point(0, 4000.0, 100.0),
        "full": backlog_point(300_000, 3800.0, 110.0),
        "fills": [{"robots": 88_000, "accepted_per_s": 3900.0, "seconds": 23.0, "errors": 0}],
        "rss_empty_mb": 80.0,
        "rss_at_mb": {"queued": 100_000, "rss_mb": 160.0},
        "rss_full_mb": {"queued": 312_000, "rss_mb": 400.0},
        "rss_at_robots": 100_000,
        "robots": 300_000,
    }
    data["ratios"] = report.ratios(data["scenarios"])
    assert data["ratios"]["accept_rate_300k_vs_empty"] == 0.95
    assert data["ratios"]["orchestrator_cpu_300k_vs_empty"] == 1.1
    assert data["ratios"]["orchestrator_rss_100k_mb"] == 160.0
    assert data["ratios"]["orchestrator_rss_ratio"] == 2.0
    text = report.markdown(data)
    assert "### Backlog: accept rate as the queue grows (sqlite" in text
    assert "| full queue | 300,000 | 3,800 | 15.00 | 30.00 | 110.0 | 120.0 | 230.0 | 0 |" in text
    assert "160.0 MiB at 100,000 queued (2.00x)" in text
