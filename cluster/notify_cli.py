"""``robofleet notifications ...``: the outbox and the dead letter from the command line,
one command per thing the API does (``list``, ``dead``, ``get``, ``replay``, ``endpoints``,
``enable``, and ``follow``: the event stream, one line per new notification)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from cluster.client import GatewayClient, GatewayRequestFailed, segment
from cluster.terminal import show, show_lines

__all__ = ["add_notify_parser", "cmd_notifications"]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _line(n: dict[str, Any]) -> str:
    last = n["attempts"][-1] if n["attempts"] else None
    detail = ""
    if last is not None and last["outcome"] != "delivered":
        # the error says the status already ("HTTP 302 ..."); a bare status only without one
        detail = last["error"] or (f"status {last['status']}" if last["status"] else "")
    return (
        f"{n['id']}  {_when(n['updated_at'])}  {n['state']:<9} {n['channel']:<7} "
        f"{n['recipient'][:32]:<32} tries={len(n['attempts'])} {n['rule_id'] or '-'}  {detail}"
    )


def follow(client: GatewayClient, last_event_id: str | None, retry_s: float = 2.0) -> int:
    """Print each new notification of ``GET /v1/notifications/stream`` as it arrives.

    Reconnects after ``retry_s`` when the stream ends or the gateway is unreachable,
    resuming after the last notification printed; a refused request (4xx) raises
    :class:`GatewayRequestFailed` (``robofleet`` prints it on stderr and exits 1). Runs
    until interrupted (Ctrl-C ends it with 0).
    """
    try:
        while True:
            try:
                for event_id, event, data in client.events(
                    "/v1/notifications/stream", last_event_id
                ):
                    if event == "notification":
                        show(_line(json.loads(data)), flush=True)
                        last_event_id = event_id or last_event_id
            except GatewayRequestFailed as exc:
                if 400 <= exc.status < 500:
                    raise
            time.sleep(retry_s)
    except KeyboardInterrupt:
        return 0


def cmd_notifications(args: argparse.Namespace, client: GatewayClient) -> int:
    """Run one ``robofleet notifications`` action against the gateway."""
    if args.action == "follow":
        return follow(client, args.after)
    if args.action in ("list", "dead"):
        query: dict[str, Any] = {"limit": args.limit}
        state = "dead" if args.action == "dead" else args.state
        if state:
            query["state"] = state
        page = client.request("GET", "/v1/notifications", query=query)
        for n in page["notifications"]:
            show(_line(n))
        if not page["notifications"]:
            show("no notifications")
    elif args.action == "endpoints":
        endpoints = client.request("GET", "/v1/webhooks")["endpoints"]
        if not endpoints:
            show("no webhook endpoints (the config's [[notify.webhooks]] names none)")
        for e in endpoints:
            if e["disabled"]:
                state = f"disabled: {e['reason']}"
            elif not e.get("secret", True):
                state = "no secret: its secrets_env is unset, deliveries go dead"
            else:
                state = "enabled"
            show(f"{e['name']:<24} {state:<40} {e['url']}")
    elif args.action == "enable":
        client.request("POST", f"/v1/webhooks/{segment(args.name)}/enable")
        show(f"{args.name} is enabled: the notifier sends to it again")
    elif args.action == "get":
        show_lines(
            json.dumps(client.request("GET", f"/v1/notifications/{segment(args.id)}"), indent=2)
        )
    else:
        answer = client.request("POST", f"/v1/notifications/{segment(args.id)}/replay")
        show(f"{answer['id']} is {answer['state']} again: the notifier sends it now")
    return 0


def add_notify_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
    client: Callable[[argparse.Namespace], GatewayClient],
) -> None:
    """Add ``robofleet notifications`` to the command line."""
    notifications = sub.add_parser(
        "notifications", help="recent deliveries, the dead letter, one delivery, replay"
    )
    client_args(notifications)
    actions = notifications.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="recent deliveries, newest first")
    listing.add_argument("--state", choices=("pending", "delivered", "dead"))
    dead = actions.add_parser("dead", help="the dead letter, newest first")
    parsers = [listing, dead]
    for action in (listing, dead):
        action.add_argument("--limit", type=int, default=50)
    for name, text in (
        ("get", "one delivery with its attempts"),
        ("replay", "send a dead delivery again (admin key)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id")
        parsers.append(action)
    parsers.append(actions.add_parser("endpoints", help="webhook endpoints, enabled or disabled"))
    following = actions.add_parser("follow", help="print new notifications as they arrive")
    following.add_argument("--after", help="a delivery id: start after it (else from now)")
    parsers.append(following)
    enable = actions.add_parser("enable", help="enable a webhook endpoint a 410 disabled")
    enable.add_argument("name")
    parsers.append(enable)
    for action in parsers:
        client_args(action)
        action.set_defaults(func=lambda args: cmd_notifications(args, client(args)))
