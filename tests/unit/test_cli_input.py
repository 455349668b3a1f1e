"""The command line refuses bad arguments with one line naming them, before any request."""

from __future__ import annotations

import pytest

from cluster import cli
from cluster.client import segment


def test_a_payload_nested_past_the_parser_is_one_line_naming_the_argument(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5_000 + "]" * 5_000)
    with pytest.raises(ValueError, match=r"^--payload is not JSON: depth limit"):
        cli._payload(f"@{deep}")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("notjson", "--payload is not JSON"),
        ("[1, 2]", "--payload must be a JSON object"),
        ("@/no/such/file.json", "--payload: cannot read /no/such/file.json"),
        # invalid UTF-8 on the command line reaches Python as lone surrogates
        ('{"name": "caf\udce9"}', "--payload is not valid UTF-8 text"),
    ],
)
def test_a_bad_payload_names_the_argument(raw, message):
    with pytest.raises(ValueError, match=message):
        cli._payload(raw)


def test_a_payload_file_that_is_not_utf8_is_refused(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(ValueError, match="--payload is not JSON"):
        cli._payload(f"@{bad}")


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "soon"])
def test_a_wait_timeout_that_is_not_a_positive_number_is_refused_before_submitting(
    timeout, capsys
):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["submit", "echo", "--wait", "--timeout", timeout])
    assert exit_.value.code == 2
    assert "is not a positive number of seconds" in capsys.readouterr().err


def test_an_id_stays_one_path_segment():
    assert segment("../../etc") == "..%2F..%2Fetc"
    assert segment("a b?c#d") == "a%20b%3Fc%23d"


def test_invalid_settings_are_one_line_naming_the_setting(monkeypatch, capsys):
    monkeypatch.setenv("ROBOFLEET_MAX_BODY_BYTES", "lots")
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: invalid settings: max_body_bytes: ")
    assert "lots" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["schedules", "create", "{nope"], "error: RULE is not JSON (Expecting property name"),
        (["rules", "create", "[1]"], "error: RULE must be a JSON object (or @file holding one)"),
        (["rules", "create", "@/no/such/rule.json"], "error: RULE: cannot read /no/such/rule"),
        (["schedules", "backfill", "s", "yesterday", "1"], "error: START 'yesterday' is not a "
         "time: give Unix seconds (1774746000) or ISO 8601 (2026-03-29T02:00:00+01:00)"),
        (["schedules", "backfill", "s", "1", "2026-13-01"], "error: END '2026-13-01' is not a"),
    ],
)
def test_a_bad_rule_or_time_is_one_line_naming_the_argument_before_any_request(
    argv, message, capsys, monkeypatch
):
    def no_request(*args, **kwargs):
        raise AssertionError("no request expected")

    monkeypatch.setattr(cli.GatewayClient, "request", no_request)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


EMPTY = {
    "/v1/robots": {"robots": [], "next_cursor": None},
    "/v1/modules": {"modules": []},
    "/v1/keys": {"keys": []},
    "/v1/mailboxes": {"mailboxes": []},
    "/v1/mail": {"mail": [], "next_cursor": None},
    "/v1/rules": {"rules": []},
    "/v1/schedules": {"rules": []},
    "/v1/rules/r1/firings": {"firings": [], "next_cursor": None},
    "/v1/notifications": {"notifications": [], "next_cursor": None},
    "/v1/webhooks": {"endpoints": []},
}


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["status"], "no robots"),
        (["status", "--status", "dead"], "no dead robots"),
        (["modules"], "no modules"),
        (["keys", "list"], "no keys"),
        (["mail"], "no mailboxes watched"),
        (["mail", "list"], "no mail"),
        (["mail", "list", "--mailbox", "ap"], "no mail in mailbox ap"),
        (["rules", "list"], "no rules"),
        (["rules", "firings", "r1"], "no firings of r1"),
        (["schedules", "list"], "no schedules"),
        (["notifications", "list"], "no notifications"),
        (["notifications", "endpoints"], "no webhook endpoints"),
    ],
)
def test_an_empty_listing_says_so_in_one_line(argv, line, capsys, monkeypatch):
    def answer(self, method, path, body=None, query=None):
        return EMPTY[path]

    monkeypatch.setattr(cli.GatewayClient, "request", answer)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(line) and out.count("\n") == 1, out


@pytest.mark.parametrize("argv", [[], ["backup"], ["keys"], ["rules"], ["schedules"],
                                  ["notifications"]])  # fmt: skip
def test_a_missing_subcommand_is_named_by_its_choices_not_its_dest(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: {" in err, err
    assert not any(dest in err for dest in ("command_action", "action", "command\n")), err


@pytest.mark.parametrize(
    "argv",
    [
        ["mail", "--url", "http://gw.test:1", "list"],
        ["mail", "list", "--url", "http://gw.test:1"],
        ["mail", "--url", "http://gw.test:1"],
        ["keys", "--url", "http://gw.test:1", "--api-key", "k1", "list"],
        ["rules", "--url", "http://gw.test:1", "--api-key", "k1", "firings", "r1"],
        ["schedules", "--url", "http://gw.test:1", "list"],
        ["notifications", "--api-key", "k1", "--url", "http://gw.test:1", "endpoints"],
        ["mail", "--url", "http://elsewhere:2", "list", "--url", "http://gw.test:1"],
    ],
)
def test_options_given_to_a_command_group_reach_its_action(argv, capsys, monkeypatch):
    asked: list[tuple[str, str | None]] = []

    def answer(self, method, path, body=None, query=None):
        asked.append((self.url, self.api_key))
        return EMPTY[path]

    monkeypatch.delenv("ROBOFLEET_API_KEY", raising=False)
    monkeypatch.setattr(cli.GatewayClient, "request", answer)
    assert cli.main(argv) == 0
    assert asked == [("http://gw.test:1", "k1" if "k1" in argv else None)]


def test_backup_options_given_before_the_action_reach_it(tmp_path, capsys):
    data = tmp_path / "data"
    assert cli.main(["backup", "--data-dir", str(data), "list"]) == 0
    assert capsys.readouterr().out == f"no backups in {data / 'backups'}\n"


def test_a_payload_nested_deeper_than_the_gateway_reads_is_one_line(tmp_path):
    # 1000 levels parse, but cannot be encoded to send: a RecursionError traceback before.
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 1000 + "1" + "}" * 1000)
    with pytest.raises(ValueError, match=r"^--payload: it is nested deeper than 64 levels$"):
        cli._payload(f"@{deep}")
