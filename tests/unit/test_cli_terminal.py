"""The command line prints text from the gateway with its control characters made visible."""

from __future__ import annotations

from typing import Any

import pytest

from cluster import cli, doctor_checks, mail_cli, notify_cli, rules_cli
from cluster.doctor import print_report
from cluster.terminal import escape_controls

HOSTILE = "hi \x1b]0;pwned\x07\x1b[2J\x1b[31mRED \u202eevil\u2066 \x9b2J"


def test_control_characters_and_bidi_overrides_are_written_visibly():
    assert escape_controls(HOSTILE) == (
        "hi \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mRED \\u202eevil\\u2066 \\x9b2J"
    )
    assert escape_controls("line\nnext\r\ttab\x7f") == "line\\x0anext\\x0d\\x09tab\\x7f"
    assert escape_controls("café → ✓") == "café → ✓"


class _Client:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def request(self, method: str, path: str, body: object = None, query: Any = None) -> Any:
        return self.answers[path]


def _assert_clean(out: str) -> None:
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066"):
        assert bad not in out
    assert "\\x1b]0;pwned" in out


def test_mail_list_escapes_a_subject(capsys):
    mail = {
        "id": "m1", "mailbox": "box", "uid": 3, "class": "invoice", "confidence": 0.9,
        "robots": [], "pii_kinds": [], "subject": HOSTILE, "errors": [HOSTILE],
    }  # fmt: skip
    client = _Client({"/v1/mail": {"mail": [mail], "next_cursor": None}})
    args = mail_cli.argparse.Namespace(action="list", mailbox=None, limit=20, cursor=None)
    mail_cli.cmd_mail(args, client)  # type: ignore[arg-type]
    _assert_clean(capsys.readouterr().out)


def test_notifications_and_rule_firings_escape_server_text(capsys):
    attempt = {"outcome": "failed", "status": 500, "error": HOSTILE}
    notification = {
        "id": "n1", "updated_at": 1.0, "state": "dead", "channel": "webhook",
        "recipient": HOSTILE, "attempts": [attempt], "rule_id": None,
    }  # fmt: skip
    client = _Client(
        {
            "/v1/notifications": {"notifications": [notification]},
            "/v1/rules/r1/firings": {
                "firings": [
                    {
                        "at": 1.0,
                        "outcome": "error",
                        "source": "s",
                        "robot_id": None,
                        "detail": HOSTILE,
                    }
                ]
            },
        }
    )
    ns = notify_cli.argparse.Namespace
    notify_cli.cmd_notifications(ns(action="list", limit=5, state=None), client)  # type: ignore[arg-type]
    rules_cli.cmd_rules(ns(action="firings", id="r1", limit=5), client)  # type: ignore[arg-type]
    _assert_clean(capsys.readouterr().out)


def test_a_gateway_error_message_is_escaped(monkeypatch, capsys):
    def fail(args: Any) -> int:
        raise cli.GatewayRequestFailed(400, HOSTILE)

    monkeypatch.setattr(cli, "cmd_status", fail)
    assert cli.main(["status"]) == 1
    _assert_clean(capsys.readouterr().err)


def test_doctor_escapes_what_the_gateway_reported(capsys):
    report = doctor_checks.Report()
    report.problem("mailboxes", f"mailbox x is unreachable ({HOSTILE})", "fix it")
    print_report(report, [])
    _assert_clean(capsys.readouterr().out)


@pytest.mark.parametrize("subject", ["\u202aa", "\u202bb", "\u202cc", "\u202dd", "\u2067e"])
def test_every_bidi_control_is_escaped(subject):
    assert escape_controls(subject)[:2] == "\\u"


def test_a_failed_attempt_shows_its_error_once(capsys):
    attempt = {"outcome": "failed", "status": 302, "error": "HTTP 302 (redirects are not followed)"}
    notification = {
        "id": "n1", "updated_at": 1.0, "state": "pending", "channel": "webhook",
        "recipient": "billing", "attempts": [attempt], "rule_id": None,
    }  # fmt: skip
    client = _Client({"/v1/notifications": {"notifications": [notification]}})
    args = notify_cli.argparse.Namespace(action="list", limit=5, state=None)
    notify_cli.cmd_notifications(args, client)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.rstrip().endswith("  HTTP 302 (redirects are not followed)")
    assert "302 HTTP 302" not in out
