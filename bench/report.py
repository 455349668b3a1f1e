"""Ratios, goals, the results files and the markdown table of one benchmark run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HEADLINE_CONNECTIONS = 64


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _submit_at(rows: list[dict[str, Any]], connections: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["connections"] == connections), None)


def _by_connections(peer: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
    return {r["connections"]: r for r in (peer or {}).get("levels", [])}


def ratios(scenarios: dict[str, Any]) -> dict[str, Any]:
    """robofleet against Celery, the Ray ceiling and Ray Serve, per store."""
    out: dict[str, Any] = {}
    ceiling = (scenarios.get("ray_ceiling") or {}).get("calls_per_s")
    celery = (scenarios.get("celery") or {}).get("tasks_per_s")
    for store, e2e in (scenarios.get("e2e") or {}).items():
        out[f"e2e_over_celery[{store}]"] = _ratio(e2e.get("robots_per_s"), celery)
    for store, drain in (scenarios.get("dispatch") or {}).items():
        out[f"dispatch_over_ray_ceiling[{store}]"] = _ratio(drain.get("robots_per_s"), ceiling)
    serve = _by_connections(scenarios.get("serve"))
    floor = _by_connections(scenarios.get("floor"))
    for store, rows in (scenarios.get("submit") or {}).items():
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
    out.update(cache_ratios(scenarios.get("cache")))
    return out


def _cache_label(cache: dict[str, Any]) -> str:
    return cache.get("store", "sqlite") + ("+redis" if cache.get("redis") else "")


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
            _fmt(level["clients"]),
            _fmt(level["cache"]["p50_ms"], 3),
            _fmt(level["cache"]["p99_ms"], 2),
            f"{level['cache'].get('hit_rate', 0):.1%}",
            _fmt(level["store"]["p50_ms"], 3),
            _fmt(level["store"]["p99_ms"], 2),
            _fmt(ratio.get(f"cache_hit_p50_vs_store_p50[{label}@{level['clients']}]"), 2),
        ]
        for level in cache["levels"]
    ]
    return [
        f"### Cache reads: GET /v1/robots/{{id}} of {_fmt(cache['robots'])} finished robots "
        f"({label}), caching gateway against a store-only gateway (best p50 of "
        f"{cache['rounds']} alternating rounds of {cache['seconds']:g} s each)",
        "",
    ] + _table(
        ["clients", "cached p50 ms", "cached p99 ms", "hit rate", "store p50 ms",
         "store p99 ms", "p50 cached / store (goal <= 1.0)"],
        rows,
    )  # fmt: skip


def headline(scenarios: dict[str, Any], ratio: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures issue 7 sets goals for, with whether this run met them."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, store: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append({"figure": figure, "store": store, "value": value, "goal": goal, "met": met})

    for store, submit in (scenarios.get("submit") or {}).items():
        at = _submit_at(submit, HEADLINE_CONNECTIONS)
        if at is not None:
            p99 = at["p99_ms"]
            add(f"submit p99 @{HEADLINE_CONNECTIONS} conns (ms)", store, p99, "<= 15", p99 <= 15)
        best = max((r["accepted_per_s"] for r in submit), default=None)
        add("accepted robots/s (best level)", store, best, ">= 2000", best and best >= 2000)
    for store, e2e in (scenarios.get("e2e") or {}).items():
        rate = e2e.get("robots_per_s")
        add("end-to-end robots/s", store, rate, ">= 1000", rate is not None and rate >= 1000)
        over = ratio.get(f"e2e_over_celery[{store}]")
        add("end-to-end / Celery", store, over, ">= 2.0x", over is not None and over >= 2)
    for store in scenarios.get("dispatch") or {}:
        over = ratio.get(f"dispatch_over_ray_ceiling[{store}]")
        add("dispatch / Ray ceiling", store, over, ">= 1.0x", over is not None and over >= 1)
    return rows


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
            _fmt(r["connections"]),
            _fmt(r["requests_per_s"]),
            _fmt(r["p50_ms"], 2),
            _fmt(r["p99_ms"], 2),
            _fmt(r["errors"]),
        ]
        for store in stores:
            key = f"[{store}@{r['connections']}]"
            row += [_fmt(ratio.get(name + key), 2) for name in columns]
        rows.append(row)
    header = ["conns", "req/s", "p50 ms", "p99 ms", "errors"]
    for store in stores:
        header += [f"{label} ({store})" for label in columns.values()]
    return [title, ""] + _table(header, rows)


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
    for name, label in (("floor", "HTTP floor"), ("serve", "Ray Serve")):
        row = _by_connections(s.get(name)).get(HEADLINE_CONNECTIONS)
        if row and row.get("cpu_us_per_request"):
            runs.append((label, row["cpu_us_per_request"]))
    if not runs:
        return []
    roles = sorted({role for _, cpu in runs for role in cpu if role != "total"})
    rows = [[name, *(_fmt(cpu.get(role), 1) for role in roles), _fmt(cpu["total"], 1)]
            for name, cpu in runs]  # fmt: skip
    return [
        f"### CPU per answered request, µs, by process: at {HEADLINE_CONNECTIONS} connections, "
        "and per robot end to end",
        "",
    ] + _table(["run", *roles, "total"], rows)


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
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
    if results.get("headline"):
        lines += ["### Goals (issue 7)", ""]
        lines += _table(
            ["figure", "store", "value", "goal", "met"],
            [
                [
                    h["figure"],
                    h["store"],
                    _fmt(h["value"], 2 if "/" in h["figure"] else 1),
                    h["goal"],
                    _fmt(h["met"]),
                ]
                for h in results["headline"]
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
                _fmt(r["connections"]),
                _fmt(r["accepted_per_s"]),
                _fmt(r["p50_ms"], 2),
                _fmt(r["p95_ms"], 2),
                _fmt(r["p99_ms"], 2),
                " / ".join(_fmt(p, 1) for p in r.get("p99_runs_ms") or []) or "-",
                _fmt(r["errors"]),
            ]
            for store, levels in s["submit"].items()
            for r in levels
        ]
        lines += _table(
            ["store", "conns", "accepted/s", "p50 ms", "p95 ms", "p99 ms", "p99 of each run",
             "errors"],
            rows,
        )  # fmt: skip
    lines += _cpu_table(s)
    ratio = results.get("ratios", {})
    if s.get("e2e"):
        lines += ["### End to end: no-op echo robots, submit to recorded success", ""]
        rows = [
            [
                store,
                _fmt(e["robots"]),
                _fmt(e["robots_per_s"]),
                _fmt(e["submit_per_s"]),
                _fmt(e.get("dispatch_per_s")),
                _fmt(e.get("dispatch_peak_per_s")),
                _fmt(ratio.get(f"e2e_over_celery[{store}]"), 2),
                _fmt(e.get("store_commits")),
                "yes" if e.get("profiled") else "no",
            ]
            for store, e in s["e2e"].items()
        ]
        lines += _table(
            [
                "store",
                "robots",
                "robots/s",
                "submit/s",
                "dispatch/s",
                "peak dispatch/s",
                "vs Celery",
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
                _fmt(d["robots"]),
                _fmt(d["seconds"], 2),
                _fmt(d["robots_per_s"]),
                _fmt(ratio.get(f"dispatch_over_ray_ceiling[{store}]"), 2),
            ]
            for store, d in s["dispatch"].items()
        ]
        lines += _table(["store", "robots", "seconds", "robots/s", "vs Ray ceiling"], rows)
    peers = []
    if s.get("ray_ceiling"):
        c = s["ray_ceiling"]
        peers.append(
            [
                "Ray 1:1 async-actor calls with args",
                f"{_fmt(c['calls_per_s'])} calls/s",
                f"sd {_fmt(c['stdev'])}",
            ]
        )
    if s.get("celery"):
        c = s["celery"]
        peers.append(
            [
                "Celery, 2 prefork processes, Redis",
                f"{_fmt(c['tasks_per_s'])} tasks/s",
                f"{_fmt(c['tasks'])} tasks, sent at {_fmt(c['submit_per_s'])}/s",
            ]
        )
    if peers:
        lines += ["### Peers", ""] + _table(["peer", "figure", "notes"], peers)
    stores = list((s.get("submit") or {}).keys())
    if s.get("serve"):
        lines += _peer_table(
            f"### Ray Serve no-op, {s['serve']['replicas']} replicas, vs robofleet submit",
            s["serve"]["levels"],
            stores,
            ratio,
            {
                "submit_over_serve_throughput": "robofleet/Serve req/s",
                "submit_over_serve_p99": "robofleet/Serve p99",
            },
        )
    if s.get("floor"):
        lines += _peer_table(
            "### HTTP floor: a bare aiohttp process (parse the body, answer 202) under the same"
            " load",
            s["floor"]["levels"],
            stores,
            ratio,
            {"submit_p99_over_floor_ms": "robofleet p99 minus floor, ms"},
        )
    if s.get("scaling"):
        lines += ["### Scaling: end-to-end robots/s by echo replicas", ""]
        base = s["scaling"][0]["robots_per_s"] or None
        rows = [
            [
                _fmt(r["replicas"]),
                _fmt(r["robots"]),
                _fmt(r["robots_per_s"]),
                _fmt(_ratio(r["robots_per_s"], base), 2),
            ]
            for r in s["scaling"]
        ]
        lines += _table(["replicas", "robots", "robots/s", "speed-up"], rows)
    lines += _cache_table(s.get("cache"), ratio)
    if results.get("phases"):
        phases = ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in results["phases"])
        lines += [f"Time per phase: {phases}.", ""]
    for name, reason in (results.get("skipped") or {}).items():
        lines.append(f"- skipped {name}: {reason}")
    for name, error in (results.get("errors") or {}).items():
        lines.append(f"- FAILED {name}: {error}")
    return "\n".join(lines).rstrip() + "\n"
