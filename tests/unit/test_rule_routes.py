"""The rule routes with mocked requests on a real SQLite store (no socket): a notify rule
naming a target the config lacks is refused when saved (API and config file alike); the
firings of a rule that does not exist are a 404; a paging cursor that is no id is a 422."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.errors import error_middleware
from gateway.mail_routes import MailQuery
from gateway.rule_routes import ROUTES
from gateway.schemas import AuditQuery, RobotListQuery
from gateway.state import CONTROL, SETTINGS, STORE
from runtime.config import Settings, load_settings
from runtime.errors import ConfigError
from runtime.models import new_robot_id
from runtime.rules.model import Rule, RuleRecord
from runtime.store import SqliteStore
from tests.unit.mocked_app import respond

NOTIFY = {
    "webhooks": [{"name": "billing", "url": "http://127.0.0.1:9/h", "secrets_env": "S"}],
    "apprise": [{"name": "chat", "urls_env": "CHAT_URLS"}],
}


def notify_rule(channel: str, recipients: list[str], rule_id: str = "tell") -> dict[str, Any]:
    return {
        "id": rule_id,
        "on": {"robot": {"type": "echo", "status": ["succeeded"]}},
        "do": {
            "notify": {
                "channel": channel,
                "recipients": recipients,
                "template": {"en": {"subject": "s", "text": "t"}},
            }
        },
    }


class Control:
    """Stands in for the orchestrator: a created rule is stored as it is."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def create_rule(self, rule: Rule) -> RuleRecord:
        return RuleRecord(rule=rule)


def app_for(store: SqliteStore) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[STORE] = store
    app[SETTINGS] = Settings(notify=NOTIFY)
    app[CONTROL] = Control(store)  # type: ignore[assignment]
    for route, _ in ROUTES:
        route.register(app.router)
    return app


def error_of(response: web.Response) -> dict[str, Any]:
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)["error"]


@pytest.mark.parametrize(
    ("channel", "recipients", "unknown"),
    [
        ("webhook", ["billing", "biling"], "'biling'"),
        ("apprise", ["pager"], "'pager'"),
        ("email", ["ana@example.com"], "[notify.smtp]"),
    ],
)
async def test_a_notify_rule_naming_an_unknown_target_is_422(
    store: SqliteStore, channel: str, recipients: list[str], unknown: str
) -> None:
    app = app_for(store)
    body = orjson.dumps(notify_rule(channel, recipients))
    refused = await respond(app, "POST", "/v1/rules", body=body)
    assert refused.status == 422
    error = error_of(refused)
    assert error["code"] == "rule_rejected" and unknown in error["message"]


async def test_a_notify_rule_naming_known_targets_is_created(store: SqliteStore) -> None:
    app = app_for(store)
    for channel, recipient in (("webhook", "billing"), ("apprise", "chat"), ("inapp", "*")):
        body = orjson.dumps(notify_rule(channel, [recipient], f"tell-{channel}"))
        assert (await respond(app, "POST", "/v1/rules", body=body)).status == 201


def test_a_config_rule_naming_an_unknown_target_is_one_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "robofleet.toml"
    config.write_text(
        '[[notify.webhooks]]\nname = "billing"\nurl = "http://127.0.0.1:9/h"\n'
        'secrets_env = "S"\n\n'
        '[[rules]]\nid = "tell"\non = { robot = { type = "echo", status = ["succeeded"] } }\n'
        '[rules.do.notify]\nchannel = "webhook"\nrecipients = ["biling"]\n'
        'template = { en = { subject = "s", text = "t" } }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "\n" not in message
    assert "rule 'tell'" in message and "'biling'" in message and "'billing'" in message


async def test_the_firings_of_an_unknown_rule_are_404(store: SqliteStore) -> None:
    app = app_for(store)
    missing = await respond(app, "GET", "/v1/rules/nosuchrule/firings")
    assert missing.status == 404 and error_of(missing)["code"] == "unknown_rule"
    assert "nosuchrule" in error_of(missing)["message"]
    await store.save_rule(RuleRecord(rule=Rule.model_validate(notify_rule("inapp", ["*"]))))
    known = await respond(app, "GET", "/v1/rules/tell/firings")
    assert known.status == 200 and orjson.loads(known.body) == {  # type: ignore[arg-type]
        "firings": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize("model", [RobotListQuery, MailQuery, AuditQuery])
def test_a_cursor_that_is_no_id_is_refused(model: type) -> None:
    assert model.model_validate({"cursor": new_robot_id()}).cursor is not None
    for bogus in ("abc", "bogus", "0" * 23, "Z" * 24):
        with pytest.raises(ValueError, match="cursor"):
            model.model_validate({"cursor": bogus})


async def test_a_bogus_cursor_on_a_listing_route_is_422(store: SqliteStore) -> None:
    app = app_for(store)
    refused = await respond(app, "GET", "/v1/rules/tell/firings?cursor=bogus")
    assert refused.status == 422 and "cursor" in error_of(refused)["message"]
