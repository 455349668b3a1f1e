"""``robofleet status ID --routing``: a robot's routing decisions as a readable table."""

from __future__ import annotations

from typing import Any


def _number(value: float) -> str:
    return f"{value:.3f}"


def render_routing(answer: dict[str, Any]) -> str:
    """Lines of text for a ``GET /v1/robots/{id}/routing`` answer: per attempt, one row per
    candidate module (the winner marked ``*``), the replicas compared and why."""
    lines = [
        f"robot {answer['robot_id']} ({answer['type']}) {answer['status']}",
        f"total = {answer['weights']}",
    ]
    if not answer["attempts"]:
        lines.append("no attempt placed yet")
    waiting = answer.get("waiting")
    if waiting:
        lines.append(f"waiting {waiting.get('waited_s') or 0.0:.2f}s in line: {waiting['why']}")
    for attempt in answer["attempts"]:
        where = f"{attempt.get('module') or '-'} / {attempt.get('replica') or '-'}"
        lines.append("")
        lines.append(f"attempt {attempt['attempt']}  {attempt['status']:<9}  {where}")
        decision = attempt.get("decision")
        if decision is None:
            lines.append("  (no routing decision recorded)")
            continue
        lines.append(
            f"    {'module':<24} {'perf':>6} {'cap':>6} {'health':>6} {'total':>6}  "
            f"{'breaker':<9} excluded"
        )
        for c in decision["candidates"]:
            mark = "*" if c["module"] == decision.get("module") else " "
            lines.append(
                f"  {mark} {c['module']:<24} {_number(c['performance']):>6} "
                f"{_number(c['capacity']):>6} {_number(c['health']):>6} "
                f"{_number(c['total']):>6}  {c['breaker']:<9} {c.get('excluded') or ''}"
            )
        compared = decision.get("compared") or []
        if compared:
            seen = " vs ".join(f"{r['name']} ({r['in_flight']} in flight)" for r in compared)
            lines.append(f"  replicas compared: {seen} -> {decision.get('replica')}")
        if decision.get("waited"):
            lines.append(f"  waited {decision.get('waited_s') or 0.0:.2f}s: {decision['waited']}")
        lines.append(f"  why: {decision['why']}")
    return "\n".join(lines)
