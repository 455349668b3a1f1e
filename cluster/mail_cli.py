"""``robofleet mail``: watched mailboxes and processed mail, through the gateway's mail routes.

    robofleet mail                       mailboxes with their state (= ``mail mailboxes``)
    robofleet mail list [--mailbox M]    processed mail, newest first
    robofleet mail add --name N --host H --user U (--password-env V | --password-file F) ...
    robofleet mail pause|resume|remove NAME
    robofleet mail label MAIL_ID CLASS
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from cluster.client import GatewayClient, segment
from cluster.terminal import show

__all__ = ["add_mail_parser", "cmd_mail"]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "never"


def _print_mailbox(box: dict[str, Any]) -> None:
    show(
        f"{box['name']:<20} {box['state']:<10} {box['user']}@{box['host']}:{box['port']}/"
        f"{box['folder']}  last contact {_when(box['last_contact'])}  "
        f"uidnext {box['uidnext'] or '-'}  processed {box['processed']}"
        + (f"  error: {box['error']}" if box["error"] else "")
    )


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": args.name, "host": args.host, "port": args.port, "tls": not args.no_tls,
        "user": args.user, "folder": args.folder, "after": args.after,
    }  # fmt: skip
    optional = {
        "password_env": args.password_env,
        "password_file": args.password_file,
        "move_to": args.move_to,
        "from_filter": args.from_filter,
        "subject_filter": args.subject_filter,
        "stale_after_s": args.stale_after,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    if args.attachments_only:
        spec["attachments_only"] = True
    return spec


def cmd_mail(args: argparse.Namespace, client: GatewayClient) -> int:
    """Run one ``robofleet mail`` action; 0 on success (errors raise GatewayRequestFailed)."""
    action = args.action or "mailboxes"
    if action == "mailboxes":
        boxes = client.request("GET", "/v1/mailboxes")["mailboxes"]
        for box in boxes:
            _print_mailbox(box)
        if not boxes:
            print("no mailboxes watched")
    elif action == "list":
        query = {"mailbox": args.mailbox, "limit": args.limit, "cursor": args.cursor}
        page = client.request("GET", "/v1/mail", query=query)
        for mail in page["mail"]:
            show(
                f"{mail['id']}  {mail['mailbox']}#{mail['uid']}  {mail['class'] or '-':<8} "
                f"{mail['confidence'] if mail['confidence'] is not None else '-'}  "
                f"robots {len(mail['robots'])}  pii {','.join(mail['pii_kinds']) or '-'}  "
                f"{(mail['subject'] or '')[:50]}"
                + (f"  errors: {'; '.join(mail['errors'])[:120]}" if mail["errors"] else "")
            )
        if not page["mail"]:
            print("no mail" + (f" in mailbox {args.mailbox}" if args.mailbox else ""))
        if page["next_cursor"]:
            show(f"next page: --cursor {page['next_cursor']}")
    elif action == "add":
        _print_mailbox(client.request("POST", "/v1/mailboxes", _spec(args)))
    elif action in ("pause", "resume"):
        path = f"/v1/mailboxes/{segment(args.name)}/{action}"
        _print_mailbox(client.request("POST", path))
    elif action == "remove":
        client.request("DELETE", f"/v1/mailboxes/{segment(args.name)}")
        show(f"removed {args.name}")
    elif action == "label":
        path = f"/v1/mail/{segment(args.mail_id)}/label"
        answer = client.request("POST", path, {"label": args.label})
        show(json.dumps({"id": answer["id"], "class": answer["class"], "label": answer["label"]}))
    return 0


def add_mail_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``robofleet mail`` and its actions to the command line."""
    mail = sub.add_parser("mail", help="watched mailboxes and processed mail")
    actions = mail.add_subparsers(dest="action")
    listing = actions.add_parser("list", help="processed mail, newest first")
    listing.add_argument("--mailbox")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--cursor", help="next_cursor of the previous page")
    boxes = actions.add_parser("mailboxes", help="mailboxes with their state (the default)")
    add = actions.add_parser("add", help="watch a mailbox (admin key)")
    add.add_argument("--name", required=True)
    add.add_argument("--host", required=True)
    add.add_argument("--port", type=int, default=993)
    add.add_argument("--no-tls", action="store_true", help="plain IMAP (default: TLS)")
    add.add_argument("--user", required=True)
    secret = add.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-env", help="ROBOFLEET_MAILBOX_* variable of the email-monitor")
    secret.add_argument("--password-file", help="file in the mailbox secrets dir of the head node")
    add.add_argument("--folder", default="INBOX")
    add.add_argument("--after", choices=["leave", "mark_read", "move"], default="leave")
    add.add_argument("--move-to")
    add.add_argument("--from-filter")
    add.add_argument("--subject-filter")
    add.add_argument("--attachments-only", action="store_true")
    add.add_argument("--stale-after", type=float, help="seconds of silence before stale")
    named = []
    for verb, text in (
        ("pause", "stop watching until resumed"),
        ("resume", "watch again from the cursor"),
        ("remove", "stop watching for good"),
    ):
        parser = actions.add_parser(verb, help=f"{text} (admin key)")
        parser.add_argument("name")
        named.append(parser)
    label = actions.add_parser("label", help="correct a mail's class; the model learns it")
    label.add_argument("mail_id")
    label.add_argument("label", choices=["invoice", "reminder", "support", "spam", "other"])
    client_args(mail)
    for action in (listing, boxes, add, *named, label):
        client_args(action)
    mail.set_defaults(func=run)
