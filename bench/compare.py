"""Before and after: the headline figures of two results files side by side.

python -m bench.compare bench/results/<before>.json bench/results/latest.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.report import QUEUE_PEERS, read_results


def _figures(results: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for row in results.get("goals") or results.get("headline") or []:  # headline: older runs
        out[f"{row['figure']} [{row['store']}]"] = row["value"]
    s = results.get("scenarios", {})
    for store, rows in (s.get("submit") or {}).items():
        for r in rows:
            out[f"submit accepted/s @{r['connections']} [{store}]"] = r["accepted_per_s"]
            out[f"submit p99 ms @{r['connections']} [{store}]"] = r["p99_ms"]
    for store, e in (s.get("e2e") or {}).items():
        out[f"e2e robots/s [{store}]"] = e.get("robots_per_s")
        out[f"e2e dispatch/s [{store}]"] = e.get("dispatch_per_s")
        for role, us in (e.get("cpu_us_per_robot") or {}).items():
            out[f"e2e CPU µs per robot, {role} [{store}]"] = us
    for store, d in (s.get("dispatch") or {}).items():
        out[f"dispatch alone robots/s [{store}]"] = d["robots_per_s"]
    for r in s.get("scaling") or []:
        out[f"scaling robots/s @{r['replicas']} replicas"] = r["robots_per_s"]
    for name in QUEUE_PEERS:
        if s.get(name):
            out[f"{name} tasks/s"] = s[name]["tasks_per_s"]
    if s.get("ray_ceiling"):
        out["Ray ceiling calls/s"] = s["ray_ceiling"]["calls_per_s"]
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A markdown table of every figure in either run, with the relative change."""
    a, b = _figures(before), _figures(after)
    lines = [
        f"| figure | before ({before.get('label') or before['machine']['git'].get('commit')}) "
        f"| after ({after.get('label') or after['machine']['git'].get('commit')}) | change |",
        "| --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys([*a, *b]):
        x, y = a.get(name), b.get(name)
        if x is None and y is None:  # a figure neither run measured
            continue
        change = f"{(y - x) / x:+.0%}" if x and y is not None else "-"
        lines.append(f"| {name} | {x if x is not None else '-'} | {y if y is not None else '-'} "
                     f"| {change} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the comparison of two results files."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    try:
        before, after = (read_results(p) for p in (args.before, args.after))
    except ValueError as exc:
        parser.error(str(exc))
    print(compare(before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
