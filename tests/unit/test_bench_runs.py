"""The range over several benchmark runs: what the kept three-run summary shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import compare, runs


def run(value: float | None, cache: float | None = 0.8) -> dict[str, Any]:
    return {
        "machine": {"git": {"commit": "abc"}, "load_average": [0, 0, 0]},
        "duration_s": 600,
        "goals": [
            {
                "figure": "submit p99 @64 conns ÷ HTTP-floor p99",
                "store": "sqlite",
                "key": "submit_p99_vs_floor[sqlite]",
                "value": value,
                "goal": "<= 3",
                "met": None,
            },
            {
                "figure": "cache-hit GET /v1/robots/{id} p50 ÷ store-only p50, 1 client",
                "store": "-",
                "key": "cache_hit_p50_vs_store_p50[sqlite@1]",
                "value": cache,
                "goal": "<= 1",
                "met": None,
            },
        ],
    }


def test_a_goal_is_judged_on_its_median_over_the_runs() -> None:
    rows = {r["key"]: r for r in runs.summarise([run(2.5), run(3.4), run(2.9)])}
    p99 = rows["submit_p99_vs_floor[sqlite]"]
    assert (p99["median"], p99["low"], p99["high"], p99["met"]) == (2.9, 2.5, 3.4, True)


def test_a_run_that_did_not_measure_a_figure_leaves_a_gap_not_a_zero() -> None:
    rows = {r["key"]: r for r in runs.summarise([run(None), run(3.5), run(3.1, cache=None)])}
    assert rows["submit_p99_vs_floor[sqlite]"]["values"] == [None, 3.5, 3.1]
    assert rows["submit_p99_vs_floor[sqlite]"]["met"] is False
    assert rows["cache_hit_p50_vs_store_p50[sqlite@1]"]["values"] == [0.8, 0.8, None]
    text = runs.markdown([run(None), run(3.5), run(3.1)], ["a.json", "b.json", "c.json"])
    assert "| - / 3.50 / 3.10 | 3.30 | 3.10 – 3.50 | no |" in text


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read it"),
        (b"{", "not JSON"),
        (b"\x00\x01", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"[]", "a JSON list, not an object"),
        (b"NaN", "a JSON float, not an object"),
    ],
)
@pytest.mark.parametrize("command", [runs.main, compare.main])
def test_a_file_that_is_not_a_results_file_is_a_usage_error_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: Any,
    content: bytes | None,
    says: str,
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(SystemExit) as exit_:
        command([str(bad), str(bad)])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"{bad}: " in error and says in error, error
