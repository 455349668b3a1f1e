"""Per-channel rate limits of the notifier against a real webhook receiver (an aiohttp server
verifying each signature): sends past the bucket wait, pending with a next attempt time and
no attempt recorded, and all arrive, none failed or dropped. The gateway's ``/metrics``
then carries the delivery latency histogram per channel and the dead letter's size."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from actors.notifier import Notifier
from gateway.app import create_app
from runtime.config import Settings
from runtime.keys import Role, new_api_key
from runtime.notify.model import Channel
from runtime.notify.outbox import DeliveryState, NotifierFigures, Outcome, new_delivery
from runtime.notify.settings import DEFAULT_CHANNEL_LIMITS, NotifySettings
from runtime.store import SqliteStore
from tests.integration.conftest import wait_until
from tests.integration.gateway_app import FakeControlPlane
from tests.integration.notify_servers import WebhookReceiver, new_secret

N = 10


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver(new_secret("limits")).start()
    yield started
    await started.stop()


def _settings(receiver: WebhookReceiver, **extra: object) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "webhooks": [{"name": "hook", "url": receiver.url, "secrets_env": "HOOK_SECRET"}],
            "retry_schedule": {"webhook": [0, 0.1, 0.1]},
            "poll_s": 0.2,
            **extra,
        }
    )


def test_channels_keep_their_defaults_unless_configured() -> None:
    settings = NotifySettings.model_validate({"rate_limits": {"email": {"rate": 1, "burst": 1}}})
    assert settings.rate_limit(Channel.EMAIL) == settings.rate_limits[Channel.EMAIL]
    assert settings.rate_limit(Channel.WEBHOOK) == DEFAULT_CHANNEL_LIMITS[Channel.WEBHOOK]
    assert settings.rate_limit(Channel.INAPP) is None


async def test_a_throttled_send_waits_and_is_delivered_never_failed(
    receiver: WebhookReceiver, store: SqliteStore
) -> None:
    settings = _settings(receiver, rate_limits={"webhook": {"rate": 5, "burst": 2}})
    notifier = Notifier(store, settings, environ={"HOOK_SECRET": receiver.secret})
    message = {"subject": "s", "text": "{}", "html": ""}
    deliveries = [new_delivery(f"k{n}", Channel.WEBHOOK, "hook", message) for n in range(N)]
    await store.add_deliveries(deliveries)
    started = time.time()
    await notifier.start()
    waiting_seen = False
    try:

        async def settled() -> bool:
            nonlocal waiting_seen
            page = await store.list_deliveries(100, state=DeliveryState.PENDING)
            now = time.time()
            waiting_seen |= any(d.next_attempt_at > now and not d.attempts for d in page.deliveries)
            return not page.deliveries

        await wait_until(settled, 30, 0.05)
    finally:
        await notifier.stop()
    assert waiting_seen, "no throttled delivery was seen pending with a later attempt time"
    assert receiver.bad_signatures == 0
    assert set(receiver.delivered) == {d.id for d in deliveries}
    assert all(count == 1 for count in receiver.seen.values())  # one send each
    for delivery in deliveries:
        stored = await store.get_delivery(delivery.id)
        assert stored is not None and stored.state is DeliveryState.DELIVERED
        assert [a.outcome for a in stored.attempts] == [Outcome.DELIVERED]
    # a burst of 2, then one every 0.2 s: the last arrives 1.6 s after the first
    arrivals = sorted(receiver.arrivals.values())
    assert arrivals[-1] - arrivals[0] >= (N - 2) / 5 - 0.1
    assert arrivals[-1] - started < 15
    assert notifier.figures.rate_limited["webhook"] >= N - 2
    assert notifier.figures.attempts == {"webhook:delivered": N}
    # each postponed send waits for its own slot, so it is postponed about once, not at
    # every pass (which grows with the square of the backlog), and the backlog keeps its order
    assert notifier.figures.rate_limited["webhook"] < 2 * (N - 2)
    in_order = sorted(receiver.arrivals, key=lambda delivery_id: receiver.arrivals[delivery_id])
    assert in_order[2:] == [d.id for d in deliveries][2:]


class _Tally:
    """The in-process notifier's figures as the gateway asks for them (Ray's client does
    the same through the actor)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def tally(self) -> NotifierFigures:
        return self.notifier.figures

    def nudge(self) -> None:
        self.notifier.wake()


async def test_metrics_carry_the_delivery_latency_histogram_and_the_dead_letter(
    receiver: WebhookReceiver, store: SqliteStore, tmp_path: Path
) -> None:
    notifier = Notifier(store, _settings(receiver), environ={"HOOK_SECRET": receiver.secret})
    message = {"subject": "s", "text": "{}", "html": ""}
    old = time.time() - 3.0  # written 3 s ago: its latency is at least that
    hooks = [new_delivery("late", Channel.WEBHOOK, "hook", message, now=old)]
    hooks += [new_delivery(f"h{n}", Channel.WEBHOOK, "hook", message) for n in range(4)]
    inapp = new_delivery("in", Channel.INAPP, "key", message)
    lost = new_delivery("lost", Channel.WEBHOOK, "nowhere", message)  # no such endpoint: dead
    await store.add_deliveries([*hooks, inapp, lost])
    await notifier.start()
    try:

        async def settled() -> bool:
            return await store.count_deliveries(DeliveryState.PENDING) == 0

        await wait_until(settled, 30, 0.05)
    finally:
        await notifier.stop()
    app = create_app(
        Settings(data_dir=tmp_path), FakeControlPlane(store), store, notifier=_Tally(notifier)
    )
    secret, record = new_api_key(Role.ADMIN)
    async with TestClient(TestServer(app)) as client:
        await store.create_api_key(record)
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert response.status == 200
        text = await response.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    name = "robofleet_notification_delivery_latency_seconds"
    assert samples[(f"{name}_count", (("channel", "webhook"),))] == 5
    assert samples[(f"{name}_count", (("channel", "inapp"),))] == 1
    assert samples[(f"{name}_bucket", (("channel", "webhook"), ("le", "1.0")))] == 4
    assert samples[(f"{name}_bucket", (("channel", "webhook"), ("le", "+Inf")))] == 5
    assert samples[(f"{name}_sum", (("channel", "webhook"),))] >= 3.0
    assert samples[("robofleet_notifications_dead", ())] == 1
    promtool = shutil.which("promtool")
    if promtool is not None:  # Debian's prometheus package; the alert rule tests need it too
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert name not in checked.stdout + checked.stderr, checked.stdout + checked.stderr
