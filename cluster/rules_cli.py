"""``robofleet schedules ...`` and ``robofleet rules ...``: the admin routes of rules and
schedules from the command line (an admin key), one command per thing the API does."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.backup_cli import parse_time
from cluster.client import GatewayClient, segment
from cluster.terminal import show, show_lines
from runtime.rules.model import TRIGGER_KINDS


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _instant(text: str, name: str) -> float:
    """A Unix time from a number or an ISO 8601 text (``2026-03-29T02:00:00+01:00``; no
    zone: this machine's local time); ValueError names the argument ``name`` and the form."""
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(
            f"{name} {text!r} is not a time: give Unix seconds (1774746000) or ISO 8601 "
            "(2026-03-29T02:00:00+01:00)"
        ) from None


def _rule_body(raw: str) -> Any:
    """The JSON object of the RULE argument (text, or ``@file``); ValueError says what is
    wrong with it in one line."""
    try:
        text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    except OSError as exc:
        raise ValueError(f"RULE: cannot read {raw[1:]}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"RULE: {raw[1:]} is not UTF-8 text") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"RULE is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): give a "
            "JSON object, or @file holding one"
        ) from None
    if not isinstance(value, dict):
        raise ValueError("RULE must be a JSON object (or @file holding one)")
    return value


def _print_schedule(view: dict[str, Any]) -> None:
    trigger = view["rule"]["on"]["schedule"]
    state = view["schedule"]
    when = trigger.get("cron") or f"every {trigger['every_s']:g}s"
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(state["skipped"].items())) or "none"
    show(
        f"{view['id']:<24} {when:<18} {trigger.get('timezone', 'UTC'):<16} "
        f"{'paused' if state['paused'] else 'active':<7} fired={state['fired']} "
        f"skipped: {skipped}  next: {state.get('next_slot_local') or '-'}"
    )


def cmd_schedules(args: argparse.Namespace, client: GatewayClient) -> int:
    """Run one ``robofleet schedules`` action against the gateway."""
    base = "/v1/schedules"
    if args.action == "list":
        views = client.request("GET", base)["rules"]
        for view in views:
            _print_schedule(view)
        if not views:
            print("no schedules")
    elif args.action == "create":
        _print_schedule(client.request("POST", base, _rule_body(args.rule)))
    elif args.action == "get":
        show_lines(json.dumps(client.request("GET", f"{base}/{segment(args.id)}"), indent=2))
    elif args.action in ("pause", "resume"):
        _print_schedule(client.request("POST", f"{base}/{segment(args.id)}/{args.action}"))
    elif args.action == "trigger":
        answer = client.request("POST", f"{base}/{segment(args.id)}/trigger")
        show(" ".join(answer["robot_ids"]) or "nothing fired (its 'when' did not hold)")
    elif args.action == "backfill":
        span = {"start": _instant(args.start, "START"), "end": _instant(args.end, "END")}
        answer = client.request("POST", f"{base}/{segment(args.id)}/backfill", span)
        show(f"fired {answer['fired']}, already fired or not applicable {answer['skipped']}")
    else:
        client.request("DELETE", f"{base}/{segment(args.id)}")
        show(f"deleted {args.id}")
    return 0


def _watched(on: dict[str, Any]) -> str:
    """What a rule watches, e.g. ``invoice.extract succeeded,failed``, ``sleep > 30s``,
    ``queue_depth{module=ocr} > 10 for 5s`` or ``RobofleetQueueDepthHigh firing``; empty
    for schedules (their own listing shows the slots)."""
    if on.get("robot"):
        robot = on["robot"]
        return f"{robot['type']} {','.join(robot.get('status') or ['succeeded'])}"
    if on.get("queue"):
        return f"{on['queue']['type']} >= {on['queue']['items']} queued"
    if on.get("alert"):
        alert = on["alert"]
        names = ",".join(alert.get("alertname") or ["any alert"])
        return f"{names} {','.join(alert.get('status') or ['firing'])}"
    if on.get("running"):
        running = on["running"]
        return f"{running.get('type') or 'any'} > {running['longer_than_s']:g}s"
    if on.get("metric"):
        m = on["metric"]
        what = ",".join(
            f"{k}={m[k]:g}" if k == "window_s" else f"{k}={m[k]}"
            for k in ("module", "type", "status", "window_s")
            if m.get(k) is not None
        )
        return f"{m['figure']}{{{what}}} {m['op']} {m['value']:g} for {m.get('for_s', 0):g}s"
    return ""


def cmd_rules(args: argparse.Namespace, client: GatewayClient) -> int:
    """Run one ``robofleet rules`` action against the gateway."""
    if args.action == "list":
        views = client.request("GET", "/v1/rules")["rules"]
        if not views:
            print("no rules")
        for view in views:
            on = view["rule"]["on"]
            kind = next(k for k in TRIGGER_KINDS if on.get(k))
            do = view["rule"]["do"]
            if do.get("submit"):
                target = f"submit {do['submit']['type']}"
            else:
                target = f"notify {do['notify']['channel']}"
            show(
                f"{view['id']:<24} {view['origin']:<7} on {kind:<9} {_watched(on):<28} "
                f"-> {target}"
            )
    elif args.action == "create":
        view = client.request("POST", "/v1/rules", _rule_body(args.rule))
        show(f"created {view['id']}")
    elif args.action == "get":
        show_lines(json.dumps(client.request("GET", f"/v1/rules/{segment(args.id)}"), indent=2))
    elif args.action == "firings":
        page = client.request(
            "GET", f"/v1/rules/{segment(args.id)}/firings", query={"limit": args.limit}
        )
        for f in page["firings"]:
            show(
                f"{_when(f['at'])}  {f['outcome']:<8} {f['source']:<32} "
                f"{f['robot_id'] or '-':<26} {f['detail'] or ''}"
            )
        if not page["firings"]:
            show(f"no firings of {args.id}")
    else:
        client.request("DELETE", f"/v1/rules/{segment(args.id)}")
        show(f"deleted {args.id}")
    return 0


def add_rules_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
    client: Callable[[argparse.Namespace], GatewayClient],
) -> None:
    """Add ``robofleet schedules`` and ``robofleet rules`` to the command line."""
    schedules = sub.add_parser(
        "schedules",
        help="list, create, pause, resume, trigger, backfill or delete schedules (admin key)",
    )
    client_args(schedules)
    actions = schedules.add_subparsers(dest="action", required=True)
    parsers = [actions.add_parser("list", help="schedules with their counts and next slot")]
    create = actions.add_parser("create", help="add a schedule from a rule (JSON or @file)")
    create.add_argument("rule", metavar="RULE", help="a JSON object, or @file holding one")
    parsers.append(create)
    for name, text in (
        ("get", "one schedule with its cursor and counts"),
        ("pause", "skip slots until resumed"),
        ("resume", "fire slots again"),
        ("trigger", "fire now"),
        ("delete", "delete a schedule"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id")
        parsers.append(action)
    backfill = actions.add_parser("backfill", help="fire past slots in START..END not fired yet")
    backfill.add_argument("id")
    backfill.add_argument("start", metavar="START", help="Unix time or ISO 8601")
    backfill.add_argument("end", metavar="END", help="Unix time or ISO 8601")
    parsers.append(backfill)
    for action in parsers:
        client_args(action)
        action.set_defaults(func=lambda args: cmd_schedules(args, client(args)))

    rules = sub.add_parser(
        "rules", help="list, create, show or delete rules, or their firings (admin key)"
    )
    client_args(rules)
    rule_actions = rules.add_subparsers(dest="action", required=True)
    rule_parsers = [rule_actions.add_parser("list", help="every rule")]
    rule_create = rule_actions.add_parser("create", help="add a rule (JSON or @file)")
    rule_create.add_argument("rule", metavar="RULE", help="a JSON object, or @file holding one")
    rule_parsers.append(rule_create)
    for name, text in (("get", "one rule"), ("delete", "delete a rule of the API")):
        action = rule_actions.add_parser(name, help=text)
        action.add_argument("id")
        rule_parsers.append(action)
    firings = rule_actions.add_parser("firings", help="a rule's firings, newest first")
    firings.add_argument("id")
    firings.add_argument("--limit", type=int, default=50)
    rule_parsers.append(firings)
    for action in rule_parsers:
        client_args(action)
        action.set_defaults(func=lambda args: cmd_rules(args, client(args)))
