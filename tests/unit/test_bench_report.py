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
        "goals": report.goals(ratios, ["postgresql"]),
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


def test_goals_are_ratios_of_figures_from_the_same_run() -> None:
    data = results()
    # submit p99 27 ms against the floor's 6 ms at 64 connections; 800 µs per robot against
    # the floor's 60 µs per request
    assert data["ratios"]["submit_p99_vs_floor[postgresql]"] == 4.5
    assert data["ratios"]["cpu_per_robot_vs_floor[postgresql]"] == 13.333
    text = report.markdown(data)
    assert "| submit p99 @64 conns ÷ HTTP-floor p99 | postgresql | 4.50 | <= 3 | no |" in text
    assert (
        "| CPU per robot end to end ÷ HTTP-floor CPU per request | postgresql | 13.33 | <= 5 | no |"
        in text
    )


def test_a_goal_the_run_did_not_measure_is_never_shown_as_met() -> None:
    text = report.markdown(results())
    unmeasured = "| accept rate at 300k queued ÷ at an empty queue (first store) | - | - | >= 0.95"
    assert unmeasured in text
    assert "not measured" in text
    assert "(ms) | postgresql | 27.0 | <= 15" not in text  # the old absolute goals are gone


def open_loop_row(fraction: float, rate: float, p99: float) -> dict[str, Any]:
    return {
        "fraction": fraction,
        "offered_per_s": rate,
        "achieved_per_s": rate,
        "p50_ms": p99 / 4,
        "p99_ms": p99,
        "p999_ms": p99 * 2,
        "errors": 0,
    }


def test_open_loop_p99_at_half_the_maximum_is_divided_by_the_floors_at_that_rate() -> None:
    data = results()
    data["scenarios"]["openloop"] = {
        "postgresql": {
            "max_per_s": 4000.0,
            "max_source": "submit",
            "rates": [open_loop_row(0.25, 1000.0, 4.0), open_loop_row(0.5, 2000.0, 9.0)],
            "floor": [open_loop_row(0.25, 1000.0, 1.0), open_loop_row(0.5, 2000.0, 1.5)],
        },
        "sqlite": {  # the floor ran at other rates: no ratio
            "max_per_s": 3000.0,
            "max_source": "measured",
            "rates": [open_loop_row(0.5, 1500.0, 9.0)],
            "floor": [open_loop_row(0.5, 1499.0, 1.5)],
        },
    }
    data["ratios"] = report.ratios(data["scenarios"])
    assert data["ratios"]["openloop_p99_vs_floor[postgresql]"] == 6.0
    assert data["ratios"]["openloop_p99_vs_floor[sqlite]"] is None
    text = report.markdown(data)
    assert (
        "| postgresql | 50% of 4,000 (submit) | 2,000 | 2,000 | 2.25 | 9.00 | 18.00 | 0 "
        "| 2,000 | 0.38 | 1.50 | 3.00 | 0 | 6.00 |" in text
    )
    goal_line = "Open-loop p99 at 50% of the maximum over the floor's: postgresql 6.00, sqlite -."
    assert goal_line in text


def test_submit_p99_is_divided_by_the_shape_floor_p99_at_64_connections_per_store() -> None:
    data = results()
    shape = [level(16, 9000, 2.0, {}), level(64, 12000, 9.0, {"shape host": 40.0, "total": 70.0})]
    data["scenarios"]["shape"] = {"levels": shape, "waves": 500, "requests_per_wave": 24.0}
    data["ratios"] = report.ratios(data["scenarios"])
    assert data["ratios"]["submit_p99_vs_shape_floor[postgresql]"] == 3.0  # 27 ms / 9 ms
    text = report.markdown(data)
    assert "### Shape floor" in text
    assert "| 64 | 12,000 | 4.50 | 9.00 | 0 |" in text
    assert "shape floor p99 at 64 connections: postgresql 3.00x" in text
    assert "| shape floor |" in text


def test_no_shape_floor_ratio_without_a_shape_floor_row_at_64_connections() -> None:
    scenarios = results()["scenarios"]
    scenarios["shape"] = {"levels": [level(16, 9000, 2.0, {})]}
    assert not any(k.startswith("submit_p99_vs_shape_floor") for k in report.ratios(scenarios))


def test_the_serve_section_lists_each_setting_with_its_source() -> None:
    data = results()
    data["scenarios"]["serve"] = {
        "replicas": 2,
        "levels": [level(64, 6000, 20.0, {})],
        "settings": {"enable_access_log": {"value": False, "source": "LoggingConfig"}},
    }
    assert "- enable_access_log = False: LoggingConfig" in report.markdown(data)


def queue_peers(**tasks_per_s: float) -> dict[str, Any]:
    scenarios = results()["scenarios"]
    for name, rate in tasks_per_s.items():
        scenarios[name] = {"tasks": 20_000, "tasks_per_s": rate, "submit_per_s": 9000.0}
    return scenarios


def test_end_to_end_is_set_against_the_fastest_of_the_job_queue_peers() -> None:
    ratios = report.ratios(queue_peers(celery=400.0, dramatiq=800.0, arq=500.0))
    assert ratios["best_queue_peer"] == "dramatiq"
    assert ratios["e2e_vs_best_queue_peer[postgresql]"] == 1.25  # 1000 robots/s / 800 tasks/s
    assert ratios["e2e_over_celery[postgresql]"] == 2.5  # the Celery ratio stays


def test_with_a_queue_peer_missing_there_is_no_best_one_to_beat() -> None:
    ratios = report.ratios(queue_peers(arq=2000.0))  # the best of fewer could be a weaker one
    assert "best_queue_peer" not in ratios
    assert ratios["e2e_vs_best_queue_peer[postgresql]"] is None
    assert ratios["e2e_over_celery[postgresql]"] is None


def test_without_a_queue_peer_there_is_no_best_one_and_no_ratio() -> None:
    ratios = report.ratios(queue_peers())
    assert "best_queue_peer" not in ratios
    assert ratios["e2e_vs_best_queue_peer[postgresql]"] is None


def test_the_peers_table_has_a_row_per_queue_peer_and_names_the_best() -> None:
    data = results()
    data["scenarios"] = queue_peers(celery=400.0, dramatiq=800.0, arq=500.0)
    data["ratios"] = report.ratios(data["scenarios"])
    text = report.markdown(data)
    celery = "| Celery, 2 prefork processes, Redis | 400 tasks/s | 20,000 tasks, sent at 9,000/s |"
    assert celery in text
    assert (
        "| dramatiq, 2 processes x 8 threads, Redis | 800 tasks/s "
        "| 20,000 tasks, sent at 9,000/s (best queue peer) |" in text
    )
    assert "| arq, 2 processes x 100 jobs, Redis | 500 tasks/s |" in text
    assert "| vs Celery | vs best queue peer (dramatiq) |" in text


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


def test_a_backlog_short_of_its_300k_gives_no_goal_figures() -> None:
    data = results()
    data["scenarios"]["backlog"] = {
        "empty": backlog_point(0, 4000.0, 100.0),
        "full": backlog_point(30_000, 4000.0, 100.0),
        "rss_empty_mb": 80.0,
        "rss_at_mb": {"queued": 10_000, "rss_mb": 90.0},
    }
    ratios = report.ratios(data["scenarios"])
    assert "accept_rate_300k_vs_empty" not in ratios
    assert "orchestrator_rss_100k_mb" not in ratios


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
    assert data["ratios"]["orchestrator_rss_100k_mb"] == 167.8  # 160 MiB in MB, the goal's unit
    assert data["ratios"]["orchestrator_rss_ratio"] == 2.0
    text = report.markdown(data)
    assert "### Backlog: accept rate as the queue grows (sqlite" in text
    assert "| full queue | 300,000 | 3,800 | 15.00 | 30.00 | 110.0 | 120.0 | 230.0 | 0 |" in text
    assert "160.0 MiB at 100,000 queued (2.00x)" in text


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


def test_a_redis_tier_does_not_rename_the_cache_ratio_it_is_not_on_the_path_of() -> None:
    cache = {"store": "sqlite", "redis": True, "levels": [cache_level(1, 0.3, 0.6)]}
    assert report.cache_ratios(cache) == {"cache_hit_p50_vs_store_p50[sqlite@1]": 0.5}


def test_an_open_loop_side_that_did_not_keep_up_gives_no_ratio() -> None:
    # the requests it left unanswered waited longest: its p99 would flatter it
    behind = open_loop_row(0.5, 2000.0, 9.0) | {"errors": 3}
    slow = open_loop_row(0.5, 2000.0, 9.0) | {"achieved_per_s": 1900.0}
    floor = [open_loop_row(0.5, 2000.0, 1.5)]
    for ours in (behind, slow):
        entry = {"max_per_s": 4000.0, "rates": [ours], "floor": floor}
        assert report.openloop_p99_vs_floor(entry) is None
    entry = {"max_per_s": 4000.0, "rates": [open_loop_row(0.5, 2000.0, 9.0)], "floor": floor}
    assert report.openloop_p99_vs_floor(entry) == 6.0
