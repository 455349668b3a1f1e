"""Per-channel rate limits of the notifier against a real webhook receiver (an aiohttp server
verifying each signature): sends past the bucket wait, pending with a next attempt time and
no attempt recorded, and all arrive, none failed or dropped."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors.notifier import Notifier
from runtime.notify.model import Channel
from runtime.notify.outbox import DeliveryState, Outcome, new_delivery
from runtime.notify.settings import DEFAULT_CHANNEL_LIMITS, NotifySettings
from runtime.store import SqliteStore
from tests.integration.conftest import wait_until
from tests.integration.notify_servers import WebhookReceiver, new_secret

N = 10


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver(new_secret("limits")).start()
    yield started
    await started.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "robofleet.db")
    await opened.open()
    yield opened
    await opened.close()


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

