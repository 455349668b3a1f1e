"""The open-loop scenario's script and the parser of what wrk prints with it."""

from __future__ import annotations

import pytest

from bench import open_loop
from bench.sizes import Sizes

# wrk's stdout, captured from a run of the script against the HTTP floor (bench.http_floor):
# 40 requests/s over 2 connections, the 20 requests due in the 0.5 s after a 0.5 s warm-up.
CAPTURED = """\
Running 3s test @ http://127.0.0.1:34991/v1/robots
  2 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.92ms    4.78ms  50.73ms   99.10%
    Req/Sec    19.44      4.55    30.00     85.45%
  111 requests in 3.07s, 22.22KB read
Requests/sec:     36.13
Transfer/sec:      7.23KB
{"openloop": 1, "due": 20, "statuses": {"202": 20}, "errors": {"connect": 0, "read": 0, \
"write": 0, "timeout": 0}, "latency_us": [413,1257,1292,440,417,445,676,407,442,1012,685,380,\
490,432,456,1440,382,8792,2266,1691]}
"""


def test_the_captured_run_gives_rate_and_nearest_rank_percentiles_in_ms() -> None:
    row = open_loop.parse(CAPTURED, duration_s=0.5)
    assert row["achieved_per_s"] == 40.0
    assert row["p50_ms"] == 0.456  # the 10th of 20 sorted latencies
    assert row["p99_ms"] == row["p999_ms"] == row["max_ms"] == 8.792
    assert (row["due"], row["answered"], row["unanswered"], row["errors"]) == (20, 20, 0, 0)
    assert row["statuses"] == {"202": 20}


def test_refused_unanswered_and_unconnected_count_as_errors() -> None:
    text = (
        CAPTURED.replace('"due": 20', '"due": 23')
        .replace('{"202": 20}', '{"202": 19, "503": 1}')
        .replace('"read": 0', '"read": 1')
        .replace('"connect": 0', '"connect": 2')
    )
    row = open_loop.parse(text, duration_s=0.5)
    assert row["achieved_per_s"] == 38.0  # 2xx answers only
    assert row["unanswered"] == 3
    assert row["socket_errors"] == {"connect": 2, "read": 1}
    assert row["errors"] == 1 + 3 + 2  # the read error's request is one of the unanswered


def test_output_without_the_summary_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no open-loop summary"):
        open_loop.parse("unable to connect to 127.0.0.1:1 Connection refused\n", 1.0)


def test_the_script_carries_the_schedule_and_refuses_an_impossible_one() -> None:
    text = open_loop.script([b'{"type":"echo"}'], 250.0, 8, 500, 3000)
    assert "local rate = 250.000000" in text
    assert "local connections = 8" in text
    assert "local first, last = 500, 3000" in text
    assert '"{\\034type\\034:\\034echo\\034}"' in text
    with pytest.raises(ValueError):
        open_loop.script([b"{}"], 0.0, 8, 0, 10)
    with pytest.raises(ValueError):
        open_loop.script([b"{}"], 10.0, 8, 10, 10)


def test_offered_rates_are_the_fractions_of_the_maximum() -> None:
    assert open_loop.offered(4000.0, Sizes()) == [(0.25, 1000.0), (0.5, 2000.0), (0.75, 3000.0)]
