"""``robofleet keys create|list|revoke|rotate`` and the first admin key of ``robofleet up``.

The ``keys`` commands go through the gateway's admin routes (``/v1/keys``) with an admin
key, so they work the same against any deployment and every change is audited. Only
``robofleet up`` opens the store directly, to make the first admin key of an empty store.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from cluster.client import GatewayClient, segment
from cluster.terminal import show
from runtime.config import Settings
from runtime.keys import Role, new_api_key
from runtime.store import create_store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``15m``, ``45s``, ``2w`` or a plain number of seconds."""
    match = _DURATION.match(text.lower())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30d, 12h, 15m, 45s")
    return float(match[1]) * _UNITS[match[2] or "s"]


def bootstrap_admin_key(settings: Settings) -> str | None:
    """Create an admin key if the store has no key at all; return it (None if keys exist)."""
    return asyncio.run(
        issue_admin_key(settings, "first admin key (robofleet up)", only_if_none=True)
    )


async def issue_admin_key(settings: Settings, name: str, only_if_none: bool = False) -> str | None:
    """Store a new admin key straight in the store; return it (None if ``only_if_none`` and
    keys exist). For bring-up, tests and benchmarks that own the store."""
    store = create_store(settings)
    await store.open()
    try:
        secret, record = new_api_key(Role.ADMIN, name=name)
        return secret if await store.create_api_key(record, only_if_none=only_if_none) else None
    finally:
        await store.close()


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _print_new_key(answer: dict[str, Any]) -> None:
    show(f"key id:  {answer['id']}")
    show(
        f"role:    {answer['role']}"
        + (f"  modules: {','.join(answer['modules'])}" if answer.get("modules") else "")
    )
    if answer.get("expires_at"):
        show(f"expires: {_when(answer['expires_at'])}")
    show("API key (shown only this once; store it now):")
    show(f"  {answer['key']}", flush=True)


def cmd_keys(args: argparse.Namespace, client: GatewayClient) -> int:
    """Run one ``robofleet keys`` action against the gateway."""
    if args.action == "create":
        body: dict[str, Any] = {"role": args.role}
        if args.modules:
            body["modules"] = [m.strip() for m in args.modules.split(",") if m.strip()]
        if args.expires:
            body["expires_in_s"] = parse_duration(args.expires)
        if args.name:
            body["name"] = args.name
        _print_new_key(client.request("POST", "/v1/keys", body))
    elif args.action == "list":
        keys = client.request("GET", "/v1/keys")["keys"]
        if not keys:
            show("no keys")
            return 0
        show(f"{'id':<14}{'role':<10}{'state':<10}{'created':<18}{'expires':<18}modules / name")
        for key in keys:
            modules = ",".join(key["modules"]) if key["modules"] else "*"
            show(
                f"{key['id']:<14}{key['role']:<10}{key['state']:<10}{_when(key['created_at']):<18}"
                f"{_when(key['expires_at']):<18}{modules}  {key['name'] or ''}"
            )
    elif args.action == "revoke":
        answer = client.request("POST", f"/v1/keys/{segment(args.id)}/revoke")
        show(f"revoked {answer['id']}")
    else:
        overlap = parse_duration(args.overlap) if args.overlap else 3600.0
        path = f"/v1/keys/{segment(args.id)}/rotate"
        answer = client.request("POST", path, {"overlap_s": overlap})
        show(f"rotated {args.id}: it keeps working until {_when(time.time() + overlap)}")
        _print_new_key(answer)
    return 0


def add_keys_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``robofleet keys`` and its actions to the command line."""
    keys = sub.add_parser("keys", help="create, list, revoke or rotate API keys (admin key)")
    client_args(keys)
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--modules", help="comma-separated modules the key is limited to")
    create.add_argument("--expires", help="lifetime, e.g. 30d, 12h (default: never)")
    create.add_argument("--name", help="a note on who holds the key")
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id")
    rotate = actions.add_parser("rotate", help="replace a key; the old one works for --overlap")
    rotate.add_argument("id")
    rotate.add_argument("--overlap", help="how long the old key keeps working (default 1h)")
    for action in (create, listing, revoke, rotate):
        client_args(action)
        action.set_defaults(func=run)
