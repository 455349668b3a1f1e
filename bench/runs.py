"""The range of the goals over several runs: each figure's values, its median and range.

python -m bench.runs RUN.json RUN.json RUN.json [--out range.md]

Each run is a results file of ``python -m bench`` (``make bench`` writes one per run into
``bench/results/``). A goal is met in the median when its median value over the runs meets
it; ``-`` marks a run that did not measure the figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.goals import GOALS
from bench.report import fmt, read_results, table


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per goal and store: ``values`` (one per run, None if unmeasured), ``median``,
    ``low``, ``high`` and ``met`` (of the median; None if unmeasured or unbounded)."""
    by_key: dict[str, dict[str, Any]] = {}
    for n, run in enumerate(runs):
        for row in run.get("goals") or []:
            entry = by_key.setdefault(
                row["key"],
                {**{k: row[k] for k in ("figure", "store", "key", "goal")}, "values": []},
            )
            entry["values"] += [None] * (n - len(entry["values"])) + [row["value"]]
    goals = {g.wanted + g.figure: g for g in GOALS}
    out = []
    for entry in by_key.values():
        entry["values"] += [None] * (len(runs) - len(entry["values"]))
        measured = [v for v in entry["values"] if v is not None]
        median = statistics.median(measured) if measured else None
        goal = goals.get(entry["goal"] + entry["figure"])
        out.append(
            entry
            | {
                "median": median,
                "low": min(measured, default=None),
                "high": max(measured, default=None),
                "met": goal.met(median) if goal else None,
            }
        )
    return out


def markdown(runs: list[dict[str, Any]], names: list[str]) -> str:
    """The summary as a markdown table, with each run's commit and length above it."""
    lines = ["## Goals over runs", ""]
    for name, run in zip(names, runs, strict=True):
        git = run.get("machine", {}).get("git", {})
        lines.append(
            f"- {name}: commit {git.get('commit', '?')}, {run.get('duration_s', 0):.0f} s, "
            f"load before run {run.get('machine', {}).get('load_average')}"
        )
    lines.append("")
    rows = [
        [
            r["figure"],
            r["store"],
            r["goal"],
            " / ".join(fmt(v, 2) for v in r["values"]),
            fmt(r["median"], 2),
            f"{fmt(r['low'], 2)} – {fmt(r['high'], 2)}",
            "not measured" if r["median"] is None else fmt(r["met"]),
        ]
        for r in summarise(runs)
    ]
    header = ["figure", "store", "goal", "each run", "median", "range", "met (median)"]
    return "\n".join(lines + table(header, rows)).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print (and with ``--out`` write) the goals over the given runs."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.runs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("runs", type=Path, nargs="+", help="results files of python -m bench")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        runs = [read_results(p) for p in args.runs]
    except ValueError as exc:
        parser.error(str(exc))
    text = markdown(runs, [p.name for p in args.runs])
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
