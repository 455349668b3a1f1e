"""The ``notifier``: delivers the outbox's due deliveries, records each attempt, retries.

Each pass reads the pending deliveries that are due (:meth:`RobotStore.due_deliveries`),
takes a token for each from its channel's bucket (``[notify] rate_limits``: a delivery
whose channel is out of tokens stays pending, due again when the bucket has one, with no
attempt recorded), sends the others (webhooks concurrently, up to ``concurrency``; mail in
one SMTP connection per pass; in-app ones are delivered by being stored, the feed reads
the outbox) and records each attempt with a conditional write, then sleeps until the
next one is due. A
delivery is only ever marked delivered after its send succeeded, so a notifier killed
mid-send sends it again with the same delivery id: receivers that deduplicate by
``webhook-id`` (or ``Message-ID``) see it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import aiohttp

from runtime.errors import ConfigError
from runtime.notify.apprise_channel import send_apprise
from runtime.notify.email import send_mail_batch
from runtime.notify.model import Channel
from runtime.notify.outbox import (
    Delivery,
    DeliveryState,
    NotifierFigures,
    Outcome,
    SendResult,
    after_attempt,
)
from runtime.notify.settings import (
    NotifySettings,
    apprise_target,
    apprise_urls,
    endpoint_secrets,
    smtp_password,
)
from runtime.notify.webhook import send_webhook
from runtime.store.base import RobotStore
from runtime.token_bucket import Bucket, LocalBuckets

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """Delivers the outbox. ``clock`` gives Unix seconds; ``environ`` holds the secrets."""

    def __init__(
        self,
        store: RobotStore,
        settings: NotifySettings,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.environ = environ
        self.figures = NotifierFigures(delivered={}, attempts={})
        self.buckets = LocalBuckets(clock=clock)
        self.disabled: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        """Load the disabled endpoints and start the delivery loop."""
        self.disabled = await self.store.disabled_endpoints()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """End the loop and close the HTTP session."""
        self.stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """Look for due deliveries now (a replay, a new firing)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped; one pass's failure is logged and the loop goes on."""
        while not self.stopping:
            self._wake.clear()
            sleep_s = self.settings.poll_s
            try:
                sent = await self.deliver_due()
                if sent:
                    sleep_s = 0.0
                else:
                    soonest = await self.store.next_delivery_at()
                    if soonest is not None:
                        sleep_s = min(sleep_s, max(0.0, soonest - self.clock()))
            except Exception:
                log.exception("notifier: a delivery pass failed")
            if sleep_s > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), sleep_s)
                except TimeoutError:
                    pass

    async def deliver_due(self) -> int:
        """One pass: send every due delivery (``batch`` at most); answer how many."""
        due = await self.store.due_deliveries(self.clock(), self.settings.batch)
        if not due:
            return 0
        due = await self._within_limits(due)
        if any(d.channel is Channel.WEBHOOK for d in due):  # an operator may have enabled one
            self.disabled = await self.store.disabled_endpoints()
        mail = [d for d in due if d.channel is Channel.EMAIL]
        others = [d for d in due if d.channel is not Channel.EMAIL]
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def one(delivery: Delivery) -> None:
            async with limit:
                await self._record(delivery, await self._send(delivery))

        await asyncio.gather(self._mail(mail), *(one(d) for d in others))
        self.figures.dead = await self.store.count_deliveries(DeliveryState.DEAD)
        return len(due)

    async def _within_limits(self, due: list[Delivery]) -> list[Delivery]:
        """The deliveries their channel's bucket has a token for; each other one is made
        due again when its bucket will have one for it (no attempt recorded, nothing
        dropped): the n-th postponed one of a channel ``(n - 1) / rate`` seconds after the
        first, so a backlog drains in its order, each postponed once rather than at every
        pass."""
        allowed: list[Delivery] = []
        behind: dict[Channel, int] = {}
        for delivery in due:
            limit = self.settings.rate_limit(delivery.channel)
            if limit is None:
                allowed.append(delivery)
                continue
            decision = self.buckets.acquire([Bucket.of(f"channel:{delivery.channel}", limit)])
            if decision.allowed:
                allowed.append(delivery)
                continue
            now = self.clock()
            queued = behind.get(delivery.channel, 0)
            behind[delivery.channel] = queued + 1
            wait = decision.retry_after_s + queued / limit.rate
            later = delivery.model_copy(update={"next_attempt_at": now + wait, "updated_at": now})
            await self.store.record_attempt(later, len(delivery.attempts))
            channel = delivery.channel.value
            self.figures.rate_limited[channel] = self.figures.rate_limited.get(channel, 0) + 1
        return allowed

    async def _mail(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        server = self.settings.smtp
        if server is None:
            refused = SendResult(Outcome.REFUSED, 0, "no [notify.smtp] server is configured")
            for delivery in deliveries:
                await self._record(delivery, refused)
            return
        try:
            password = smtp_password(server, self.environ)
        except ConfigError as exc:
            failed = SendResult(Outcome.FAILED, 0, str(exc))
            for delivery in deliveries:
                await self._record(delivery, failed)
            return
        results = await send_mail_batch(server, password, deliveries)
        for delivery, result in zip(deliveries, results, strict=True):
            await self._record(delivery, result)

    async def _send(self, delivery: Delivery) -> SendResult:
        if delivery.channel is Channel.INAPP:
            return SendResult(Outcome.DELIVERED, 0)  # stored is delivered: the feed reads it
        if delivery.channel is Channel.APPRISE:
            return await self._apprise(delivery)
        endpoint = self.settings.endpoint(delivery.recipient)
        if endpoint is None:
            return SendResult(
                Outcome.REFUSED, 0, f"no webhook endpoint {delivery.recipient!r} in [notify]"
            )
        if endpoint.name in self.disabled:
            return SendResult(
                Outcome.DISABLED, 0, f"endpoint disabled: {self.disabled[endpoint.name]}"
            )
        try:
            secrets = endpoint_secrets(endpoint, self.environ)
        except ConfigError as exc:
            return SendResult(Outcome.FAILED, 0, str(exc))
        assert self._session is not None
        result = await send_webhook(self._session, endpoint, secrets, delivery)
        if result.outcome is Outcome.DISABLED and result.status == 410:
            reason = f"410 Gone at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
            self.disabled[endpoint.name] = reason
            await self.store.disable_endpoint(endpoint.name, reason, self.clock())
            log.warning("notifier: webhook endpoint %s answered 410; disabled", endpoint.name)
        return result

    async def _apprise(self, delivery: Delivery) -> SendResult:
        target = apprise_target(self.settings, delivery.recipient)
        if target is None:
            return SendResult(
                Outcome.REFUSED, 0, f"no Apprise target {delivery.recipient!r} in [notify]"
            )
        try:
            urls = apprise_urls(target, self.environ)
        except ConfigError as exc:
            return SendResult(Outcome.FAILED, 0, str(exc))
        return await send_apprise(urls, delivery, target.timeout_s)

    async def _record(self, delivery: Delivery, result: SendResult) -> None:
        now = self.clock()
        updated = after_attempt(delivery, result, self.settings.schedule(delivery.channel), now)
        channel = delivery.channel.value
        tally = f"{channel}:{result.outcome.value}"
        self.figures.attempts[tally] = self.figures.attempts.get(tally, 0) + 1
        if not await self.store.record_attempt(updated, len(delivery.attempts)):
            return  # another writer recorded this attempt (a replay raced it)
        if updated.state is DeliveryState.DELIVERED:
            self.figures.delivered[channel] = self.figures.delivered.get(channel, 0) + 1
            self.figures.observe_latency(channel, max(0.0, now - delivery.created_at))
        elif updated.state is DeliveryState.DEAD:
            log.warning("notifier: delivery %s is dead: %s", delivery.id, result.error)

    async def replay(self, delivery_id: str) -> bool:
        """Make a dead delivery pending again and deliver it now; False if it is not dead."""
        replayed = await self.store.replay_delivery(delivery_id, self.clock())
        if replayed:
            self.wake()
        return replayed

    async def enable_endpoint(self, name: str) -> None:
        """Enable a webhook endpoint a 410 disabled."""
        await self.store.enable_endpoint(name)
        self.disabled.pop(name, None)
