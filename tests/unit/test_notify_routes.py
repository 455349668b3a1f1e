"""The notification routes with mocked requests on a real SQLite store (no socket): an admin
sees every delivery and the dead letter, another key only its in-app feed; replay answers
200 for a dead delivery, 409 for another, 404 for an unknown one; the CLI has a command for
each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from cluster.cli import build_parser
from cluster.client import GatewayRequestFailed
from cluster.notify_cli import follow
from gateway.auth import CALLER
from gateway.errors import error_middleware
from gateway.notify_routes import ROUTES
from gateway.state import SETTINGS, STORE
from runtime.config import Settings
from runtime.keys import ApiKey, Role
from runtime.notify.model import Channel
from runtime.notify.outbox import DeliveryState, Outcome, SendResult, after_attempt, new_delivery
from runtime.store import SqliteStore
from tests.unit.mocked_app import respond

MESSAGE = {"subject": "s", "text": "t", "html": ""}


def app_for(store: SqliteStore, role: Role, key_id: str) -> web.Application:
    @web.middleware
    async def as_caller(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        request[CALLER] = ApiKey(id=key_id, key_hash="x", role=role)
        return await handler(request)

    app = web.Application(middlewares=[error_middleware, as_caller])
    app[STORE] = store
    app[SETTINGS] = Settings(
        notify={
            "webhooks": [{"name": "billing", "url": "http://127.0.0.1:9/h", "secrets_env": "S"}]
        }
    )
    for route, _ in ROUTES:
        route.register(app.router)
    return app


def body(response: web.Response) -> dict:
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)


async def test_admin_sees_all_and_the_dead_letter_a_viewer_its_feed(store: SqliteStore) -> None:
    mine = new_delivery("a", Channel.INAPP, "key-v", MESSAGE)
    theirs = new_delivery("b", Channel.INAPP, "key-w", MESSAGE)
    hook = new_delivery("c", Channel.WEBHOOK, "key-v", MESSAGE)  # not an in-app one
    await store.add_deliveries([mine, theirs, hook])
    refused = SendResult(Outcome.REFUSED, 550, "SMTP 550")
    assert await store.record_attempt(after_attempt(hook, refused, (0,), 1.0), 0)
    admin = app_for(store, Role.ADMIN, "key-a")
    listed = body(await respond(admin, "GET", "/v1/notifications"))
    assert {n["id"] for n in listed["notifications"]} == {mine.id, theirs.id, hook.id}
    dead = body(await respond(admin, "GET", "/v1/notifications?state=dead"))
    assert [n["id"] for n in dead["notifications"]] == [hook.id]
    assert dead["notifications"][0]["attempts"][0]["status"] == 550
    assert "dedup_key" not in dead["notifications"][0]
    viewer = app_for(store, Role.VIEWER, "key-v")
    feed = body(await respond(viewer, "GET", "/v1/notifications"))
    assert [n["id"] for n in feed["notifications"]] == [mine.id]
    assert (await respond(viewer, "GET", f"/v1/notifications/{theirs.id}")).status == 404
    assert (await respond(viewer, "GET", f"/v1/notifications/{mine.id}")).status == 200
    assert (await respond(admin, "GET", "/v1/notifications?state=lost")).status == 422


async def test_replay_is_for_the_dead_letter_only(store: SqliteStore) -> None:
    hook = new_delivery("c", Channel.WEBHOOK, "billing", MESSAGE)
    await store.add_deliveries([hook])
    admin = app_for(store, Role.ADMIN, "key-a")
    pending = await respond(admin, "POST", f"/v1/notifications/{hook.id}/replay")
    assert pending.status == 409 and "is pending" in body(pending)["error"]["message"]
    unknown = await respond(admin, "POST", f"/v1/notifications/msg_{'0' * 24}/replay")
    assert unknown.status == 404
    assert (await respond(admin, "POST", "/v1/notifications/nonsense/replay")).status == 404
    gone = SendResult(Outcome.DISABLED, 410, "410 Gone")
    assert await store.record_attempt(after_attempt(hook, gone, (0, 5), 1.0), 0)
    replayed = await respond(admin, "POST", f"/v1/notifications/{hook.id}/replay")
    assert replayed.status == 200 and body(replayed) == {"id": hook.id, "state": "pending"}
    stored = await store.get_delivery(hook.id)
    assert stored is not None and stored.state is DeliveryState.PENDING


async def test_a_disabled_endpoint_is_listed_and_enabled_again(store: SqliteStore) -> None:
    admin = app_for(store, Role.ADMIN, "key-a")
    await store.disable_endpoint("billing", "410 Gone at 2026-12-01T03:00:00Z")
    listed = body(await respond(admin, "GET", "/v1/webhooks"))["endpoints"]
    assert listed == [
        {
            "name": "billing",
            "url": "http://127.0.0.1:9/h",
            "disabled": True,
            "reason": "410 Gone at 2026-12-01T03:00:00Z",
            "secret": False,  # S is not set in the test's environment
        }
    ]
    enabled = await respond(admin, "POST", "/v1/webhooks/billing/enable")
    assert enabled.status == 200 and body(enabled)["disabled"] is False
    assert await store.disabled_endpoints() == {}
    unknown = await respond(admin, "POST", "/v1/webhooks/nowhere/enable")
    assert unknown.status == 404
    assert body(unknown)["error"]["code"] == "unknown_webhook"
    assert "no webhook endpoint 'nowhere'" in body(unknown)["error"]["message"]


@pytest.mark.parametrize(
    "argv",
    [
        ["notifications", "list", "--state", "delivered", "--limit", "5"],
        ["notifications", "dead"],
        ["notifications", "get", "msg_x"],
        ["notifications", "replay", "msg_x"],
        ["notifications", "endpoints"],
        ["notifications", "enable", "billing"],
    ],
)
def test_the_cli_has_a_command_for_each_route(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.action == argv[1] and callable(args.func)
    if argv[1] == "enable":
        assert args.name == "billing"


async def test_an_endpoint_without_its_secret_shows_it_and_readiness_reports_it(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cluster.notify_cli import cmd_notifications
    from gateway.notify_routes import notify_readiness

    monkeypatch.delenv("S", raising=False)
    admin = app_for(store, Role.ADMIN, "key-a")
    hook = new_delivery("d", Channel.WEBHOOK, "billing", MESSAGE)
    await store.add_deliveries([hook])
    gone = SendResult(Outcome.DISABLED, 410, "410 Gone")
    assert await store.record_attempt(after_attempt(hook, gone, (0,), 1.0), 0)
    ready = await notify_readiness(admin)
    assert [(w.name, w.secret, w.disabled) for w in ready.webhooks] == [("billing", False, None)]
    assert ready.dead == 1

    class Client:
        def request(self, method: str, path: str, *rest: object) -> object:
            endpoint = {"name": "billing", "url": "http://127.0.0.1:9/h", "disabled": False,
                        "reason": None, "secret": False}  # fmt: skip
            return {"endpoints": [endpoint]}

    cmd_notifications(build_parser().parse_args(["notifications", "endpoints"]), Client())  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "no secret" in out and " enabled " not in out

    monkeypatch.setenv("S", "whsec_one")
    assert (await notify_readiness(admin)).webhooks[0].secret is True


def test_follow_leaves_a_refused_stream_to_the_command_line_and_escapes_what_it_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Stream:
        def __init__(self, status: int) -> None:
            self.status = status

        def events(self, path: str, last_event_id: str | None = None) -> Iterator[Any]:
            yield "msg_1", "notification", orjson.dumps(
                {"id": "msg_1", "channel": "inapp", "recipient": "k\x1b[2J", "state": "delivered",
                 "rule_id": None, "attempts": [], "updated_at": 0}
            ).decode()  # fmt: skip
            raise GatewayRequestFailed(self.status, "refused")

    with pytest.raises(GatewayRequestFailed):
        follow(Stream(401), None)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.startswith("msg_1") and "\x1b" not in out
