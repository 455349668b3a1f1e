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


def cache_level(clients: int, cached_p50: float, store_p50: float) -> dict[str, Any]:
    figures = {"requests": 100, "errors": 0, "rps": 500.0, "p99_ms": 4.0}
    return {
        "clients": clients,
        "cache": figures | {"p50_ms": cached_p50, "hit_rate": 0.998, "p50_rounds_ms": []},
        "store": figures | {"p50_ms": store_p50, "p50_rounds_ms": []},
    }


def test_cache_hit_p50_is_divided_by_the_store_only_p50_at_each_client_level() -> None:
    data = results()
    data["scenarios"]["cache"] = {
        "store": "sqlite",
        "redis": False,
        "robots": 2000,
        "seconds": 4.0,
        "rounds": 2,
        "levels": [cache_level(1, 0.25, 0.5), cache_level(32, 9.0, 6.0)],
    }
    data["ratios"] = report.ratios(data["scenarios"])
    assert data["ratios"]["cache_hit_p50_vs_store_p50[sqlite@1]"] == 0.5
    assert data["ratios"]["cache_hit_p50_vs_store_p50[sqlite@32]"] == 1.5
    text = report.markdown(data)
    assert "### Cache reads: GET /v1/robots/{id} of 2,000 finished robots (sqlite)" in text
    assert "| 1 | 0.250 | 4.00 | 99.8% | 0.500 | 4.00 | 0.50 |" in text
    assert "| 32 | 9.000 | 4.00 | 99.8% | 6.000 | 4.00 | 1.50 |" in text


def test_a_redis_tier_is_named_in_the_cache_ratio() -> None:
    cache = {"store": "sqlite", "redis": True, "levels": [cache_level(1, 0.3, 0.6)]}
    assert report.cache_ratios(cache) == {"cache_hit_p50_vs_store_p50[sqlite+redis@1]": 0.5}
