"""The gateway's one JSON reader: duplicate keys are refused on the admin and config routes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ApiError
from gateway.http import parse, read_json
from gateway.rule_routes import BackfillRequest
from runtime.mail.mailbox import MailboxSpec
from runtime.rules.model import Rule


class _Body:
    """What read_json uses of a request: its headers and its body."""

    def __init__(self, raw: bytes) -> None:
        self.headers: dict[str, str] = {}
        self.raw = raw

    async def read(self) -> bytes:
        return self.raw


async def _read(raw: bytes, **options: Any) -> Any:
    return await read_json(_Body(raw), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"id": "a", "on": {}, "id": "b"}', "'id'"),
        (b'{"rule": {"on": {"every_s": 5, "every_s": 6}}}', "'every_s'"),
        (b'[{"name": "x", "name": "y"}]', "'name'"),
    ],
)
async def test_a_key_given_twice_is_a_400_naming_it(raw, key):
    with pytest.raises(ApiError) as refused:
        await _read(raw)
    assert refused.value.http_status == 400 and refused.value.code == "invalid_json"
    assert f"the key {key} more than once" in refused.value.message


async def test_the_same_key_in_different_objects_is_fine():
    assert await _read(b'{"a": {"id": 1}, "b": {"id": 2}}') == {"a": {"id": 1}, "b": {"id": 2}}


async def test_the_robot_submit_path_does_not_look_for_duplicates():
    assert await _read(b'{"type": "a", "type": "b"}', unique_keys=False) == {"type": "b"}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (Rule, {"id": "t", "on": {"schedule": {"every_s": "5"}},
                "do": {"submit": {"type": "task"}}}, "every_s"),
        (Rule, {"id": "t", "on": {"schedule": {"every_s": 5}},
                "do": {"submit": {"type": "task", "priority": "5"}}}, "priority"),
        (BackfillRequest, {"start": "1", "end": 2}, "start"),
        (MailboxSpec, {"name": "a", "host": "h", "user": "u",
                       "password_env": "ROBOFLEET_MAILBOX_A", "port": "993"}, "port"),
        (MailboxSpec, {"name": "a", "host": "h", "user": "u",
                       "password_env": "ROBOFLEET_MAILBOX_A", "tls": "false"}, "tls"),
    ],
)  # fmt: skip
def test_request_bodies_refuse_a_number_or_flag_given_as_a_string(model, body, field):
    with pytest.raises(ApiError) as refused:
        parse(model, body, strict=True)
    assert refused.value.http_status == 422 and field in refused.value.message


def test_strict_bodies_still_read_numbers_and_json_forms():
    rule = parse(
        Rule,
        {"id": "t", "on": {"schedule": {"every_s": 5, "overlap": "skip"}},
         "do": {"submit": {"type": "task", "priority": 3}}},
        strict=True,
    )  # fmt: skip
    assert rule.on.schedule is not None and rule.on.schedule.every_s == 5.0
    assert parse(BackfillRequest, {"start": 1, "end": 2.5}, strict=True).end == 2.5
