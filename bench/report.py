"""Ratios, goals, the results files and the markdown table of one benchmark run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.goals import evaluate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HEADLINE_CONNECTIONS = 64
MIB = 1 << 20
OPENLOOP_HEADLINE_FRACTION = 0.5  # of the maximum rate: where open-loop p99 meets the floor's
# The job-queue peers, by scenario name: how each is labelled in the Peers table
QUEUE_PEERS = {
    "celery": "Celery, 2 prefork processes, Redis",
    "dramatiq": "dramatiq, 2 processes x 8 threads, Redis",
    "arq": "arq, 2 processes x 100 jobs, Redis",
}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _submit_at(rows: list[dict[str, Any]], connections: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["connections"] == connections), None)


def _by_connections(peer: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
    return {r["connections"]: r for r in (peer or {}).get("levels", [])}


def _at_fraction(rows: list[dict[str, Any]] | None, fraction: float) -> dict[str, Any] | None:
    return next((r for r in rows or [] if abs(r["fraction"] - fraction) < 1e-9), None)


def openloop_p99_vs_floor(entry: dict[str, Any]) -> float | None:
    """robofleet's open-loop p99 at half its maximum rate over the floor's at the same rate.

    ``entry`` is one store's ``openloop`` result (its ``rates`` and ``floor`` rows); None
    when either row is missing, the rates differ, or either side did not keep up (an error,
    an unanswered request, or under 98% of the offered rate achieved): the requests left out
    of its percentiles are the ones that waited longest, so its p99 would flatter it.
    """
    ours = _at_fraction(entry.get("rates"), OPENLOOP_HEADLINE_FRACTION)
    bare = _at_fraction(entry.get("floor"), OPENLOOP_HEADLINE_FRACTION)
    if ours is None or bare is None or ours["offered_per_s"] != bare["offered_per_s"]:
        return None
    if not (_kept_up(ours) and _kept_up(bare)):
        return None
    return _ratio(ours["p99_ms"], bare["p99_ms"])


def _kept_up(row: dict[str, Any]) -> bool:
    return not row.get("errors") and row["achieved_per_s"] >= 0.98 * row["offered_per_s"]


def best_queue_peer(scenarios: dict[str, Any]) -> tuple[str, float] | None:
    """The job-queue peer (Celery, dramatiq, arq) with the most tasks/s in this run, and that
    rate; None unless all three ran (the best of fewer could be a weaker one)."""
    rates = {name: (scenarios.get(name) or {}).get("tasks_per_s") for name in QUEUE_PEERS}
    ran = {name: rate for name, rate in rates.items() if rate}
    if len(ran) < len(QUEUE_PEERS):
        return None
    name = max(ran, key=ran.__getitem__)
    return name, ran[name]


def ratios(scenarios: dict[str, Any]) -> dict[str, Any]:
    """robofleet against the job-queue peers, the Ray ceiling, Ray Serve and the floors.

    ``e2e_vs_best_queue_peer[store]`` is end-to-end robots/s over the tasks/s of the fastest
    of Celery, dramatiq and arq, named by ``best_queue_peer``;
    ``submit_p99_vs_shape_floor[store]`` is robofleet's submit p99 at 64 connections over
    the shape floor's p99 at 64 connections (:mod:`bench.shape_floor`).
    """
    out: dict[str, Any] = {}
    ceiling = (scenarios.get("ray_ceiling") or {}).get("calls_per_s")
    celery = (scenarios.get("celery") or {}).get("tasks_per_s")
    best = best_queue_peer(scenarios)
    if best is not None:
        out["best_queue_peer"] = best[0]
    for store, e2e in (scenarios.get("e2e") or {}).items():
        out[f"e2e_over_celery[{store}]"] = _ratio(e2e.get("robots_per_s"), celery)
        out[f"e2e_vs_best_queue_peer[{store}]"] = _ratio(
            e2e.get("robots_per_s"), best[1] if best else None
        )
    for store, drain in (scenarios.get("dispatch") or {}).items():
        out[f"dispatch_over_ray_ceiling[{store}]"] = _ratio(drain.get("robots_per_s"), ceiling)
    for store, entry in (scenarios.get("openloop") or {}).items():
        out[f"openloop_p99_vs_floor[{store}]"] = openloop_p99_vs_floor(entry)
    out.update(backlog_ratios(scenarios.get("backlog")))
    serve = _by_connections(scenarios.get("serve"))
    floor = _by_connections(scenarios.get("floor"))
    floor_cpu = (floor.get(HEADLINE_CONNECTIONS) or {}).get("cpu_us_per_request") or {}
    for store, e2e in (scenarios.get("e2e") or {}).items():
        robot_cpu = (e2e.get("cpu_us_per_robot") or {}).get("total")
        out[f"cpu_per_robot_vs_floor[{store}]"] = _ratio(robot_cpu, floor_cpu.get("total"))
    shape = _by_connections(scenarios.get("shape")).get(HEADLINE_CONNECTIONS)
    for store, rows in (scenarios.get("submit") or {}).items():
        at = _submit_at(rows, HEADLINE_CONNECTIONS)
        if at is not None and shape is not None:
            out[f"submit_p99_vs_shape_floor[{store}]"] = _ratio(at["p99_ms"], shape["p99_ms"])
        for row in rows:
            key = f"[{store}@{row['connections']}]"
            peer = serve.get(row["connections"])
            if peer is not None:
                out["submit_over_serve_throughput" + key] = _ratio(
                    row["accepted_per_s"], peer["requests_per_s"]
                )
                out["submit_over_serve_p99" + key] = _ratio(row["p99_ms"], peer["p99_ms"])
            bare = floor.get(row["connections"])
            if bare is not None:
                out["submit_p99_over_floor_ms" + key] = round(row["p99_ms"] - bare["p99_ms"], 2)
                out["submit_p99_vs_floor" + key] = _ratio(row["p99_ms"], bare["p99_ms"])
                if row["connections"] == HEADLINE_CONNECTIONS:
                    out[f"submit_p99_vs_floor[{store}]"] = out["submit_p99_vs_floor" + key]
    out.update(cache_ratios(scenarios.get("cache")))
    return out


def backlog_ratios(backlog: dict[str, Any] | None) -> dict[str, Any]:
    """Accept rate and orchestrator CPU per robot at a full queue over an empty one; the
    orchestrator's RSS (MiB) at ``rss_at_robots`` queued robots and over its RSS empty."""
    if not backlog:
        return {}
    empty, full, rss_at = backlog["empty"], backlog["full"], backlog["rss_at_mb"]["rss_mb"]
    if full["queued"] < 300_000 or backlog["rss_at_mb"]["queued"] < 100_000:
        return {}  # a smaller queue (--scale, refused fills) says nothing about these goals
    return {
        "accept_rate_300k_vs_empty": _ratio(full["accepted_per_s"], empty["accepted_per_s"]),
        "orchestrator_cpu_300k_vs_empty": _ratio(
            full.get("orchestrator_us_per_robot"), empty.get("orchestrator_us_per_robot")
        ),
        "orchestrator_rss_100k_mb": round(rss_at * MIB / 1e6, 1),  # the goal is in MB
        "orchestrator_rss_ratio": _ratio(rss_at, backlog["rss_empty_mb"]),
    }


def _cache_label(cache: dict[str, Any]) -> str:
    return str(cache.get("store", "sqlite"))  # a Redis tier is not on this read path


def cache_ratios(cache: dict[str, Any] | None) -> dict[str, float | None]:
    """``cache_hit_p50_vs_store_p50[<store>@<clients>]``: p50 of ``GET /v1/robots/{id}``
    through the caching gateway over the store-only gateway's, per client level (goal <= 1)."""
    out: dict[str, float | None] = {}
    for level in (cache or {}).get("levels", []):
        key = f"cache_hit_p50_vs_store_p50[{_cache_label(cache or {})}@{level['clients']}]"
        out[key] = _ratio(level["cache"]["p50_ms"], level["store"]["p50_ms"])
    return out


def _cache_table(cache: dict[str, Any] | None, ratio: dict[str, Any]) -> list[str]:
    """Each client level of the cache scenario: both gateways' latencies and their ratio."""
    if not cache or not cache.get("levels"):
        return []
    label = _cache_label(cache)
    rows = [
        [
            fmt(level["clients"]),
            fmt(level["cache"]["p50_ms"], 3),
            fmt(level["cache"]["p99_ms"], 2),
            f"{level['cache'].get('hit_rate', 0):.1%}",
            fmt(level["store"]["p50_ms"], 3),
            fmt(level["store"]["p99_ms"], 2),
            fmt(ratio.get(f"cache_hit_p50_vs_store_p50[{label}@{level['clients']}]"), 2),
        ]
        for level in cache["levels"]
    ]
    return [
        f"### Cache reads: GET /v1/robots/{{id}} of {fmt(cache['robots'])} finished robots "
        f"({label}), caching gateway against a store-only gateway (best p50 of "
        f"{cache['rounds']} alternating rounds of {cache['seconds']:g} s each)",
        "",
    ] + table(
        ["clients", "cached p50 ms", "cached p99 ms", "hit rate", "store p50 ms",
         "store p99 ms", "p50 cached / store (goal <= 1.0)"],
        rows,
    )  # fmt: skip


def _backlog_table(b: dict[str, Any], ratio: dict[str, Any]) -> list[str]:
    """The backlog scenario: the two accept windows, the fills between, the RSS readings.

    The orchestrator's CPU is its own process's; the gateway's and the total are every
    process of that role on the machine (:mod:`bench.cpu`).
    """
    rows = []
    for label, point in (("empty queue", b["empty"]), ("full queue", b["full"])):
        cpu = point["cpu_us_per_robot"]
        rows.append([
            label, fmt(point["queued"]), fmt(point["accepted_per_s"]), fmt(point["p50_ms"], 2),
            fmt(point["p99_ms"], 2), fmt(point.get("orchestrator_us_per_robot"), 1),
            fmt(cpu.get("gateway"), 1),
            fmt(cpu.get("total"), 1), fmt(point["errors"]),
        ])  # fmt: skip
    header = ["window", "queued at start", "accepted/s", "p50 ms", "p99 ms",
              "orchestrator µs/robot", "gateway µs/robot", "total µs/robot", "errors"]  # fmt: skip
    at = b["rss_at_mb"]
    fills = ", ".join(
        f"{fmt(f['robots'])} at {fmt(f['accepted_per_s'])}/s" for f in b["fills"] if f["robots"]
    )
    return (
        [
            f"### Backlog: accept rate as the queue grows ({b.get('store', '?')}, robots held "
            f"in queue, {b['connections']} connections, {b['window_s']:g} s windows)",
            "",
        ]
        + table(header, rows)
        + [
            f"Full ÷ empty: accept rate {fmt(ratio.get('accept_rate_300k_vs_empty'), 3)}, "
            f"orchestrator CPU per robot {fmt(ratio.get('orchestrator_cpu_300k_vs_empty'), 3)}. "
            f"Orchestrator RSS: {fmt(b['rss_empty_mb'], 1)} MiB empty, "
            f"{fmt(at['rss_mb'], 1)} MiB at {fmt(at['queued'])} queued "
            f"({fmt(ratio.get('orchestrator_rss_ratio'), 2)}x), "
            f"{fmt(b['rss_full_mb']['rss_mb'], 1)} MiB at {fmt(b['rss_full_mb']['queued'])}. "
            f"Filled between the windows: {fills or '-'}.",
            "",
        ]
    )


def goals(results_ratios: dict[str, Any], stores: list[str]) -> list[dict[str, Any]]:
    """The goals table of this run: see :func:`bench.goals.evaluate`."""
    return evaluate(results_ratios, stores)


def read_results(path: Path) -> dict[str, Any]:
    """A results file of ``python -m bench`` (what :func:`write` wrote) as its JSON object.

    Raises ``ValueError`` naming the file when it cannot be read, is not JSON, or holds
    something other than a JSON object; the command lines turn it into a usage error.
    """
    try:
        results = json.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ValueError(f"{path}: not a results file, not JSON ({exc})") from exc
    if not isinstance(results, dict):
        kind = type(results).__name__
        raise ValueError(f"{path}: not a results file: a JSON {kind}, not an object")
    return results


def write(results: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<time>[-label].json``, ``latest.json`` and ``latest.md``; return the first."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(results["started_at"]))
    label = f"-{results['label']}" if results.get("label") else ""
    path = results_dir / f"{stamp}{label}.json"
    text = json.dumps(results, indent=1, default=str)
    path.write_text(text)
    (results_dir / "latest.json").write_text(text)
    (results_dir / "latest.md").write_text(markdown(results))
    return path


def _peer_table(
    title: str,
    levels: list[dict[str, Any]],
    stores: list[str],
    ratio: dict[str, Any],
    columns: dict[str, str],
) -> list[str]:
    """A peer's figures per connection level, then each ratio column for each store."""
    rows = []
    for r in levels:
        row = [
            fmt(r["connections"]),
            fmt(r["requests_per_s"]),
            fmt(r["p50_ms"], 2),
            fmt(r["p99_ms"], 2),
            fmt(r["errors"]),
        ]
        for store in stores:
            key = f"[{store}@{r['connections']}]"
            row += [fmt(ratio.get(name + key), 2) for name in columns]
        rows.append(row)
    header = ["conns", "req/s", "p50 ms", "p99 ms", "errors"]
    for store in stores:
        header += [f"{label} ({store})" for label in columns.values()]
    return [title, ""] + table(header, rows)


PeerNotes = Callable[[dict[str, Any]], list[str]]
"""What follows a peer's table in the report: lines made from the peer's figures."""


def _shape_note(shape: dict[str, Any], stores: list[str], ratio: dict[str, Any]) -> list[str]:
    """The shape floor's waves and robofleet's submit p99 over the floor's, per store."""
    vs = ", ".join(
        f"{store} {fmt(ratio.get(f'submit_p99_vs_shape_floor[{store}]'), 2)}x" for store in stores
    )
    return [
        f"{fmt(shape.get('waves'))} Ray calls, "
        f"{fmt(shape.get('requests_per_wave'), 1)} requests per call. "
        f"robofleet submit p99 / shape floor p99 at {HEADLINE_CONNECTIONS} connections: "
        f"{vs or '-'}.",
        "",
    ]


OPENLOOP_HEADER = ["store", "rate (of max accepted/s)", "offered/s", "achieved/s", "p50 ms",
                   "p99 ms", "p99.9 ms", "errors", "floor achieved/s", "floor p50 ms",
                   "floor p99 ms", "floor p99.9 ms", "floor errors", "p99 / floor p99"]  # fmt: skip


def _openloop_table(openloop: dict[str, Any], ratio: dict[str, Any]) -> list[str]:
    """Per store and fraction of its maximum: robofleet's and the floor's open-loop figures."""
    rows = []
    for store, entry in openloop.items():
        floor = entry.get("floor") or []
        for r in entry["rates"]:
            bare = _at_fraction(floor, r["fraction"]) or {}
            over = _ratio(r["p99_ms"], bare.get("p99_ms"))
            rows.append(
                [
                    store,
                    f"{r['fraction']:.0%} of {fmt(entry['max_per_s'])} ({entry['max_source']})",
                    fmt(r["offered_per_s"]),
                    fmt(r["achieved_per_s"]),
                    fmt(r["p50_ms"], 2),
                    fmt(r["p99_ms"], 2),
                    fmt(r["p999_ms"], 2),
                    fmt(r["errors"]),
                    fmt(bare.get("achieved_per_s")),
                    fmt(bare.get("p50_ms"), 2),
                    fmt(bare.get("p99_ms"), 2),
                    fmt(bare.get("p999_ms"), 2),
                    fmt(bare.get("errors")),
                    fmt(over, 2),
                ]
            )
    goal = ", ".join(
        f"{store} {fmt(ratio.get(f'openloop_p99_vs_floor[{store}]'), 2)}" for store in openloop
    )
    return [
        "### Open loop: POST /v1/robots at a constant offered rate, latency from each request's"
        " due time (no coordinated omission), robofleet and the HTTP floor at the same rates",
        "",
        *table(OPENLOOP_HEADER, rows),
        f"Open-loop p99 at {OPENLOOP_HEADLINE_FRACTION:.0%} of the maximum over the floor's: "
        f"{goal}.",
        "",
    ]


def _cpu_table(s: dict[str, Any]) -> list[str]:
    """CPU µs per robot by process role: each wrk run at the headline level, each end to end."""
    runs: list[tuple[str, dict[str, float]]] = []
    for store, levels in (s.get("submit") or {}).items():
        row = _submit_at(levels, HEADLINE_CONNECTIONS)
        if row and row.get("cpu_us_per_request"):
            runs.append((f"robofleet submit ({store})", row["cpu_us_per_request"]))
    for store, e in (s.get("e2e") or {}).items():
        if e.get("cpu_us_per_robot"):
            runs.append((f"robofleet end to end ({store})", e["cpu_us_per_robot"]))
    for name, label in (("floor", "HTTP floor"), ("shape", "shape floor"), ("serve", "Ray Serve")):
        row = _by_connections(s.get(name)).get(HEADLINE_CONNECTIONS)
        if row and row.get("cpu_us_per_request"):
            runs.append((label, row["cpu_us_per_request"]))
    if not runs:
        return []
    roles = sorted({role for _, cpu in runs for role in cpu if role != "total"})
    rows = [[name, *(fmt(cpu.get(role), 1) for role in roles), fmt(cpu["total"], 1)]
            for name, cpu in runs]  # fmt: skip
    return [
        f"### CPU per answered request, µs, by process: at {HEADLINE_CONNECTIONS} connections, "
        "and per robot end to end",
        "",
    ] + table(["run", *roles, "total"], rows)


def _serve_settings(serve: dict[str, Any]) -> list[str]:
    """How the Serve peer was tuned: each setting, its value and where it comes from."""
    settings = serve.get("settings") or {}
    lines = [f"- {name} = {s['value']}: {s['source']}" for name, s in settings.items()]
    if serve.get("profile_note"):
        lines.append(f"- profile: {serve['profile_note']}")
    return ["Serve settings:", "", *lines, ""] if lines else []


def fmt(value: Any, digits: int = 0) -> str:
    """A figure for a table cell: thousands separators, ``-`` for none, yes/no for booleans."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines, then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def markdown(results: dict[str, Any]) -> str:
    """The run as markdown: machine, headline against goals, then each scenario."""
    m = results["machine"]
    v = m["versions"]
    s = results["scenarios"]
    lines = [
        f"## robofleet benchmark {results.get('label') or ''}".rstrip(),
        "",
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, Ray {v.get('ray')}, aiohttp {v.get('aiohttp')}, "
        f"Celery {v.get('celery') or '-'}; commit {m['git'].get('commit', '?')}"
        f"{' (dirty)' if m['git'].get('dirty') else ''}; load before run {m['load_average']}; "
        f"run took {results.get('duration_s', 0):.0f} s"
        f"{'' if results.get('complete', True) else ' (INCOMPLETE: the run stopped early)'}. "
        f"Load generator: {results.get('load_generator') or '-'} for every HTTP scenario "
        "(timed for submit, Serve and the floor; a fixed count for end to end and dispatch).",
        "",
    ]
    if results.get("goals"):
        lines += ["### Goals: each a ratio of figures measured side by side in this run", ""]
        lines += table(
            ["figure", "store", "value", "goal", "met"],
            [
                [
                    g["figure"],
                    g["store"],
                    fmt(g["value"], 1 if "MB" in g["figure"] else 2),
                    g["goal"],
                    "not measured" if g["value"] is None else fmt(g["met"]),
                ]
                for g in results["goals"]
            ],
        )
    if s.get("submit"):
        lines += [
            f"### Submit: POST /v1/robots by {results.get('load_generator') or 'wrk'} "
            "(robots held in queue: accept path only; of several runs per level, the one with "
            "the median p99)",
            "",
        ]
        rows = [
            [
                store,
                fmt(r["connections"]),
                fmt(r["accepted_per_s"]),
                fmt(r["p50_ms"], 2),
                fmt(r["p95_ms"], 2),
                fmt(r["p99_ms"], 2),
                " / ".join(fmt(p, 1) for p in r.get("p99_runs_ms") or []) or "-",
                fmt(r["errors"]),
            ]
            for store, levels in s["submit"].items()
            for r in levels
        ]
        lines += table(
            ["store", "conns", "accepted/s", "p50 ms", "p95 ms", "p99 ms", "p99 of each run",
             "errors"],
            rows,
        )  # fmt: skip
    lines += _cpu_table(s)
    ratio = results.get("ratios", {})
    if s.get("openloop"):
        lines += _openloop_table(s["openloop"], ratio)
    if s.get("e2e"):
        lines += ["### End to end: no-op echo robots, submit to recorded success", ""]
        rows = [
            [
                store,
                fmt(e["robots"]),
                fmt(e["robots_per_s"]),
                fmt(e["submit_per_s"]),
                fmt(e.get("dispatch_per_s")),
                fmt(e.get("dispatch_peak_per_s")),
                fmt(ratio.get(f"e2e_over_celery[{store}]"), 2),
                fmt(ratio.get(f"e2e_vs_best_queue_peer[{store}]"), 2),
                fmt(e.get("store_commits")),
                "yes" if e.get("profiled") else "no",
            ]
            for store, e in s["e2e"].items()
        ]
        lines += table(
            [
                "store",
                "robots",
                "robots/s",
                "submit/s",
                "dispatch/s",
                "peak dispatch/s",
                "vs Celery",
                f"vs best queue peer ({ratio.get('best_queue_peer') or '-'})",
                "commits",
                "profiled",
            ],
            rows,
        )
    if s.get("dispatch"):
        lines += ["### Dispatch alone: robots queued behind 0 replicas, then released to 2", ""]
        rows = [
            [
                store,
                fmt(d["robots"]),
                fmt(d["seconds"], 2),
                fmt(d["robots_per_s"]),
                fmt(ratio.get(f"dispatch_over_ray_ceiling[{store}]"), 2),
            ]
            for store, d in s["dispatch"].items()
        ]
        lines += table(["store", "robots", "seconds", "robots/s", "vs Ray ceiling"], rows)
    if s.get("backlog"):
        lines += _backlog_table(s["backlog"], ratio)
    peers = []
    if s.get("ray_ceiling"):
        c = s["ray_ceiling"]
        peers.append(
            [
                "Ray 1:1 async-actor calls with args",
                f"{fmt(c['calls_per_s'])} calls/s",
                f"sd {fmt(c['stdev'])}",
            ]
        )
    for name, label in QUEUE_PEERS.items():
        if s.get(name):
            c = s[name]
            best = " (best queue peer)" if ratio.get("best_queue_peer") == name else ""
            peers.append(
                [
                    label,
                    f"{fmt(c['tasks_per_s'])} tasks/s",
                    f"{fmt(c['tasks'])} tasks, sent at {fmt(c['submit_per_s'])}/s{best}",
                ]
            )
    if peers:
        lines += ["### Peers", ""] + table(["peer", "figure", "notes"], peers)
    stores = list((s.get("submit") or {}).keys())
    serve_title = "### Ray Serve no-op, {replicas} replicas, vs robofleet submit"
    peer_tables: list[tuple[str, str, list[str], dict[str, str], PeerNotes]] = [
        (
            "serve",
            serve_title.format(replicas=(s.get("serve") or {}).get("replicas")),
            stores,
            {
                "submit_over_serve_throughput": "robofleet/Serve req/s",
                "submit_over_serve_p99": "robofleet/Serve p99",
            },
            _serve_settings,
        ),
        (
            "floor",
            "### HTTP floor: a bare aiohttp process (parse the body, answer 202) under the same"
            " load",
            stores,
            {"submit_p99_over_floor_ms": "robofleet p99 minus floor, ms"},
            lambda floor: [],
        ),
        (
            "shape",
            "### Shape floor: a bare aiohttp handler in a Ray actor, one Ray call per wave to an"
            " actor that answers at once, 202 (robofleet's design without its work)",
            [],
            {},
            lambda shape: _shape_note(shape, stores, ratio),
        ),
    ]
    for key, title, compared, columns, notes in peer_tables:
        if s.get(key):
            lines += _peer_table(title, s[key]["levels"], compared, ratio, columns)
            lines += notes(s[key])
    if s.get("scaling"):
        lines += ["### Scaling: end-to-end robots/s by echo replicas", ""]
        base = s["scaling"][0]["robots_per_s"] or None
        rows = [
            [
                fmt(r["replicas"]),
                fmt(r["robots"]),
                fmt(r["robots_per_s"]),
                fmt(_ratio(r["robots_per_s"], base), 2),
            ]
            for r in s["scaling"]
        ]
        lines += table(["replicas", "robots", "robots/s", "speed-up"], rows)
    lines += _cache_table(s.get("cache"), ratio)
    if results.get("phases"):
        phases = ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in results["phases"])
        lines += [f"Time per phase: {phases}.", ""]
    for name, reason in (results.get("skipped") or {}).items():
        lines.append(f"- skipped {name}: {reason}")
    for name, error in (results.get("errors") or {}).items():
        lines.append(f"- FAILED {name}: {error}")
    return "\n".join(lines).rstrip() + "\n"
