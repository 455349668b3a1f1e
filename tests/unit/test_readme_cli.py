"""README's command table and claims say what the command line and the measurements do."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cluster import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _actions(command: str) -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    top = sub.choices[command]
    actions = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return dict(actions.choices)


@pytest.mark.parametrize("action", ["create", "list", "verify", "prune", "wal"])
def test_each_backup_row_lists_the_options_its_command_takes(action):
    parser = _actions("backup")[action]
    rows = [
        line for line in README.splitlines() if line.startswith(f"| `robofleet backup {action}")
    ]
    assert rows, action
    options = {
        option
        for a in parser._actions
        for option in a.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert {"--config", "--data-dir", "--backup-dir"} <= options
    missing = {o for o in options if not any(o in row for row in rows)}
    assert not missing, f"robofleet backup {action}: README row lacks {sorted(missing)}"


def test_every_gateway_command_is_named_where_the_readme_says_which_talk_to_it():
    sentence = re.search(r"^(`submit`.*?) talk to the gateway at `--url`", README, re.M | re.S)
    assert sentence is not None
    for command in ("submit", "status", "modules", "keys", "schedules", "rules", "mail",
                    "notifications"):  # fmt: skip
        assert f"`{command}`" in sentence[1], command


def test_the_field_accuracy_claims_say_what_they_are_measured_on():
    def claim(title: str) -> str:
        text = README[README.index(title) :]
        return " ".join(text[: text.index("\n- ")].split())

    generated = claim("**Field accuracy on generated invoices.**")
    assert "generated invoices" in generated
    assert "real invoices from outside the generator score lower" in generated
    assert "python -m bench.fields" in generated
    real = claim("**Field accuracy on real documents.**")
    assert "held-out real invoice" in real and "python -m bench.fields" in real


def _commands() -> list[tuple[str, ...]]:
    """Every ``robofleet`` command: ``(command,)``, and ``(command, action)`` for each action of
    a command that has actions."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: list[tuple[str, ...]] = []
    for command, top in sub.choices.items():
        found.append((command,))
        for action in top._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += [(command, name) for name in action.choices]
    return found


def _table_usages() -> list[list[str]]:
    """The words of each usage in the first cell of README's command table rows, up to the
    first option (``| `robofleet mail [mailboxes]` |`` → ``["mail", "mailboxes"]``; a cell
    listing actions as ``list\\|get ID`` gives each of them)."""
    usages = []
    for line in README.splitlines():
        if line.startswith("| `robofleet "):
            cell = line.split(" | ")[0]
            for usage in re.findall(r"`robofleet ([^`]*)`", cell):
                words = [w for w in re.split(r"[\s\\|\[\]()]+", usage) if w]
                cut = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
                usages.append(words[:cut])
    return usages


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_a_row_in_the_readme_command_table(command):
    rows = [words for words in _table_usages() if words[:1] == [command[0]]]
    assert rows, f"README's command table has no row for `robofleet {command[0]}`"
    if len(command) == 2:
        assert any(command[1] in words[1:] for words in rows), (
            f"README's command table does not name `robofleet {' '.join(command)}`"
        )
