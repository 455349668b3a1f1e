"""The notification outbox against real receivers (issue 18, must-show 2 at a test's size).

N deliveries (``ROBOFLEET_TEST_NOTIFY_N``, 500 by default) to a webhook receiver failing
10% of requests at random (500, a hang past the timeout, a reset connection), a notifier
SIGKILLed twice mid-run and started again: every delivery arrives, each delivery id is
counted once by the receiver, failures were retried, every signature verified. Beside
them, a 410 endpoint is disabled, a permanently failing one is dead-lettered and then
delivered after a replay, and mail goes through a real SMTP server that answers 451 (retried)
and 550 (dead). The outbox's SQL is checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from actors.notifier import Notifier
from cluster.smtp_sink import SmtpSink
from runtime.lifecycle import Transition
from runtime.models import Robot, RobotRequest, RobotStatus, new_robot_id
from runtime.notify.model import Channel
from runtime.notify.outbox import (
    Delivery,
    DeliveryState,
    Outcome,
    SendResult,
    after_attempt,
    new_delivery,
)
from runtime.notify.settings import NotifySettings
from runtime.store import SqliteStore
from runtime.store.base import RobotStore
from tests.integration.conftest import ROOT, free_port, holds, wait_until
from tests.integration.notify_servers import WebhookReceiver, new_secret
from tests.integration.test_store_contract import OpenStore, open_backend  # noqa: F401

N = int(os.environ.get("ROBOFLEET_TEST_NOTIFY_N", "500"))
BOUND_S = 60 + N / 20  # a hung notifier fails the test; a larger N gets longer
FAST = [0.0, 0.05, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3]  # ten tries: 0.1**10 loses none


def webhook(key: str, channel: Channel = Channel.WEBHOOK, to: str = "flaky") -> Delivery:
    """A delivery keyed ``key``."""
    message = {"subject": f"s {key}", "text": f'{{"n": "{key}"}}', "html": ""}
    return new_delivery(f"test:{key}", channel, to, message)


async def test_outbox_sql_on_both_stores(open_backend: OpenStore) -> None:  # noqa: F811
    store: RobotStore = await open_backend()
    robot = Robot.accepted(new_robot_id(), RobotRequest(type="echo"), time.time())
    [stored] = await store.create_robots([robot])
    first = webhook("a")
    twin = webhook("a")  # the same firing again (a restart): the dedup key keeps one
    ok = Transition(robot.id, 1, RobotStatus.QUEUED, RobotStatus.CANCELLED, deliveries=[first])
    late = Transition(robot.id, 1, RobotStatus.QUEUED, RobotStatus.CANCELLED, deliveries=[twin])
    assert await store.apply([ok]) == [True]
    assert await store.apply([late]) == [False]
    assert await store.add_deliveries([twin, webhook("b")]) == 1
    due = await store.due_deliveries(time.time() + 1)
    assert [d.id for d in due][:1] == [first.id] and len(due) == 2
    failed = after_attempt(first, SendResult(Outcome.FAILED, 500, "HTTP 500"), (0, 60), 1.0)
    assert await store.record_attempt(failed, 0)
    assert not await store.record_attempt(failed, 0)  # the same attempt twice: once
    dead = after_attempt(failed, SendResult(Outcome.FAILED, 500, "HTTP 500"), (0, 60), 2.0)
    assert await store.record_attempt(dead, 1)
    assert await store.count_deliveries(DeliveryState.DEAD) == 1
    page = await store.list_deliveries(state=DeliveryState.DEAD)
    assert [d.id for d in page.deliveries] == [first.id]
    assert [a.status for a in page.deliveries[0].attempts] == [500, 500]
    assert await store.replay_delivery(first.id, 3.0)
    assert not await store.replay_delivery(first.id, 3.0)
    again = await store.get_delivery(first.id)
    assert again is not None and again.state is DeliveryState.PENDING
    assert await store.next_delivery_at() == 3.0
    await store.disable_endpoint("gone", "410 Gone")
    assert await store.disabled_endpoints() == {"gone": "410 Gone"}
    await store.enable_endpoint("gone")
    assert await store.disabled_endpoints() == {}


def _start_notifier(db: Path, settings: NotifySettings, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.notifier_process",
            str(db),
            settings.model_dump_json(),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_every_delivery_arrives_once_through_failures_and_two_sigkills(
    tmp_path: Path,
) -> None:
    secrets = {name: new_secret(name) for name in ("flaky", "gone", "broken", "moved", "busy")}
    flaky = await WebhookReceiver(secrets["flaky"], "flaky", fail_rate=0.10, hang_s=1.0).start()
    gone = await WebhookReceiver(secrets["gone"], "gone").start()
    broken = await WebhookReceiver(secrets["broken"], "broken").start()
    moved = await WebhookReceiver(secrets["moved"], "redirect", redirect_to=broken.url).start()
    busy = await WebhookReceiver(secrets["busy"], "throttle").start()
    smtp = SmtpSink().start()
    smtp.answers["later@example.com"] = "451 4.3.0 try again later"
    smtp.answers["nobody@example.com"] = "550 5.1.1 no such user"
    env = {f"HOOK_{name.upper()}": secret for name, secret in secrets.items()}
    settings = NotifySettings.model_validate(
        {
            "webhooks": [
                {"name": n, "url": r.url, "secrets_env": f"HOOK_{n.upper()}", "timeout_s": 0.5}
                for n, r in (
                    ("flaky", flaky),
                    ("gone", gone),
                    ("broken", broken),
                    ("moved", moved),
                    ("busy", busy),
                )
            ],
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "sender": "fleet@example.com"},
            "retry_schedule": {"webhook": FAST, "email": FAST},
            "poll_s": 0.1,
            "concurrency": 32,
        }
    )
    store = SqliteStore(tmp_path / "robofleet.db")
    await store.open()
    processes: list[subprocess.Popen] = []
    try:
        many = [webhook(f"w{i}") for i in range(N)]
        extra = [
            webhook("gone-1", to="gone"),
            webhook("broken-1", to="broken"),
            webhook("moved-1", to="moved"),
            webhook("busy-1", to="busy"),
            *(webhook(f"m{i}", Channel.EMAIL, f"user{i}@example.com") for i in range(20)),
            webhook("later", Channel.EMAIL, "later@example.com"),
            webhook("nobody", Channel.EMAIL, "nobody@example.com"),
        ]
        assert await store.add_deliveries(many + extra) == N + len(extra)
        processes.append(_start_notifier(store.path, settings, env))
        for share in (0.3, 0.6):  # SIGKILL mid-run, twice, and start a new one each time
            await wait_until(lambda s=share: holds(len(flaky.delivered) >= N * s), BOUND_S, 0.02)
            processes[-1].send_signal(signal.SIGKILL)
            processes[-1].wait()
            processes.append(_start_notifier(store.path, settings, env))
        await wait_until(lambda: holds(smtp.refusals["later@example.com"] > 0), BOUND_S, 0.02)
        smtp.answers.pop("later@example.com")  # the 451 passes: the retry delivers it

        async def settled() -> bool:
            return await store.count_deliveries(DeliveryState.PENDING) == 0

        await wait_until(settled, BOUND_S, 0.2)
        # every delivery id arrived, each counted once, every signature verified
        assert set(flaky.delivered) == {d.id for d in many}
        assert len(flaky.delivered) == N and flaky.bad_signatures == 0
        assert sum(flaky.failures.values()) > 0 and set(flaky.failures) >= {"500", "reset"}
        resent = [i for i, count in flaky.seen.items() if count > 1]
        print(
            f"{N} webhooks: {flaky.requests} requests, failures {dict(flaky.failures)}, "
            f"{len(resent)} ids sent more than once, {len(flaky.delivered)} distinct delivered"
        )
        assert resent, "failures were retried with the same delivery id"
        assert all(d["data"]["message"]["n"].startswith("w") for d in flaky.delivered.values())
        # 410: the endpoint is disabled and the delivery dead after one request
        gone_delivery = await store.get_delivery(extra[0].id)
        assert gone_delivery is not None and gone_delivery.state is DeliveryState.DEAD
        assert gone.requests == 1 and "gone" in await store.disabled_endpoints()
        # permanently failing: dead after the whole schedule, then delivered after a replay
        dead = await store.list_deliveries(state=DeliveryState.DEAD, limit=10)
        broken_dead = next(d for d in dead.deliveries if d.recipient == "broken")
        assert len(broken_dead.attempts) == len(FAST) == broken.requests
        broken.mode = "ok"
        assert await store.replay_delivery(broken_dead.id)
        await wait_until(lambda: holds(broken_dead.id in broken.delivered), 30, 0.1)
        # a redirect is not followed (a failure each time); a 429 waits its Retry-After
        moved_delivery = await store.get_delivery(extra[2].id)
        assert moved_delivery is not None and moved_delivery.state is DeliveryState.DEAD
        assert {a.status for a in moved_delivery.attempts} == {302}
        assert moved.requests == len(FAST)
        assert broken.requests == len(FAST) + 1  # its own and the replay: no redirect followed
        throttled = await store.get_delivery(extra[3].id)
        assert throttled is not None and throttled.state is DeliveryState.DELIVERED
        first, second = throttled.attempts
        assert (first.outcome, first.status, second.status) == (Outcome.THROTTLED, 429, 204)
        assert second.at - first.at >= 1.0  # Retry-After: 1 outweighs the 0.05 s schedule
        # mail: 20 + the 451 one delivered with their ids, the 550 one dead at once
        mails = smtp.by_delivery()
        assert {d.id for d in extra[4:25]} <= set(mails)
        nobody = await store.get_delivery(extra[-1].id)
        assert nobody is not None and nobody.state is DeliveryState.DEAD
        assert [a.status for a in nobody.attempts] == [550]
        later = await store.get_delivery(extra[-2].id)
        assert later is not None and later.state is DeliveryState.DELIVERED
        assert later.attempts[0].status == 451
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        await store.close()
        for receiver in (flaky, gone, broken, moved, busy):
            await receiver.stop()
        smtp.stop()


async def test_apprise_delivers_to_a_json_receiver_and_retries_its_failures(
    tmp_path: Path,
) -> None:
    """SMS and chat go through Apprise URLs; here ``json://`` to a real aiohttp server that
    answers 500 to the first request of the ``down`` path, then 200."""
    received: list[tuple[str, dict]] = []
    failed_once: set[str] = set()

    async def hook(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if path == "down" and path not in failed_once:
            failed_once.add(path)
            return web.Response(status=500)
        received.append((path, await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{path}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = NotifySettings.model_validate(
        {
            "apprise": [
                {"name": "chat", "urls_env": "CHAT_URLS"},
                {"name": "pager", "urls_env": "PAGER_URLS"},
            ],
            "retry_schedule": {"apprise": [0, 0.05, 0.05]},
        }
    )
    environ = {
        "CHAT_URLS": f"json://127.0.0.1:{port}/chat",
        "PAGER_URLS": f"json://127.0.0.1:{port}/down",
    }
    store = SqliteStore(tmp_path / "robofleet.db")
    await store.open()
    notifier = Notifier(store, settings, environ=environ)
    try:
        chat = webhook("chat", Channel.APPRISE, "chat")
        pager = webhook("pager", Channel.APPRISE, "pager")
        unknown = webhook("nowhere", Channel.APPRISE, "nowhere")
        await store.add_deliveries([chat, pager, unknown])
        await notifier.start()

        async def settled() -> bool:
            return await store.count_deliveries(DeliveryState.PENDING) == 0

        await wait_until(settled, 30, 0.05)
        assert sorted(p for p, _ in received) == ["chat", "down"]
        assert {body["title"] for _, body in received} == {"s chat", "s pager"}
        got = {d: await store.get_delivery(d) for d in (chat.id, pager.id, unknown.id)}
        assert got[chat.id].state is DeliveryState.DELIVERED  # type: ignore[union-attr]
        paged = got[pager.id]
        assert paged is not None and paged.state is DeliveryState.DELIVERED
        assert [a.outcome for a in paged.attempts] == [Outcome.FAILED, Outcome.DELIVERED]
        assert "not delivered by" in (paged.attempts[0].error or "")
        lost = got[unknown.id]
        assert lost is not None and lost.state is DeliveryState.DEAD
        assert "no Apprise target 'nowhere'" in (lost.attempts[0].error or "")
    finally:
        await notifier.stop()
        await store.close()
        await runner.cleanup()
