"""The outbox's retry schedule, the webhook signature checked by the standard's reference
``Webhook.verify``, what an HTTP status means, and notify rules riding on a robot's terminal
transition: stored once with the outcome that applies, a broken render a failed firing."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from runtime.errors import ConfigError
from runtime.lifecycle import succeed
from runtime.models import FiringOutcome, RobotStatus
from runtime.notify.model import Channel
from runtime.notify.outbox import (
    STANDARD_SCHEDULE,
    DeliveryState,
    Outcome,
    SendResult,
    after_attempt,
    new_delivery,
    replayed,
)
from runtime.notify.settings import AppriseTarget, WebhookEndpoint, apprise_urls, endpoint_secrets
from runtime.notify.webhook import outcome_of, sign, webhook_body
from tests.unit.fakes import eventually, fast_settings
from tests.unit.test_orchestrator import reaches, running, submit, task

SECRET_OLD = "whsec_" + base64.b64encode(b"old-secret-of-32-bytes-0123456789").decode()
SECRET_NEW = "whsec_" + base64.b64encode(b"new-secret-of-32-bytes-0123456789").decode()


def delivery(channel: Channel = Channel.WEBHOOK) -> object:
    return new_delivery("k", channel, "billing", {"subject": "s", "text": '{"total": 3}'}, now=0)


def test_the_default_schedule_is_the_standard_webhooks_one_then_dead() -> None:
    assert STANDARD_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    d = delivery()
    failed = SendResult(Outcome.FAILED, 500, "HTTP 500")
    dues = []
    now = 0.0
    for _ in range(7):
        d = after_attempt(d, failed, STANDARD_SCHEDULE, now)  # type: ignore[arg-type]
        assert d.state is DeliveryState.PENDING
        dues.append(d.next_attempt_at - now)
        now = d.next_attempt_at
    assert dues == [5, 300, 1800, 7200, 18000, 36000, 36000]
    d = after_attempt(d, failed, STANDARD_SCHEDULE, now)
    assert d.state is DeliveryState.DEAD and len(d.attempts) == 8
    assert [a.status for a in d.attempts] == [500] * 8
    again = replayed(d, now + 1)
    assert again.state is DeliveryState.PENDING and again.next_attempt_at == now + 1
    done = after_attempt(again, SendResult(Outcome.DELIVERED, 200), STANDARD_SCHEDULE, now + 2)
    assert done.state is DeliveryState.DELIVERED and len(done.attempts) == 9


def test_throttle_waits_for_retry_after_and_refusals_are_dead_at_once() -> None:
    d = delivery()
    throttled = outcome_of(429, "120", now=0)
    assert throttled.outcome is Outcome.THROTTLED and throttled.retry_after_s == 120
    assert after_attempt(d, throttled, (0, 5, 5), 10).next_attempt_at == 130  # type: ignore[arg-type]
    assert outcome_of(502).outcome is Outcome.THROTTLED
    assert outcome_of(504).outcome is Outcome.THROTTLED
    assert outcome_of(204).outcome is Outcome.DELIVERED
    assert outcome_of(301).outcome is Outcome.FAILED  # redirects are not followed
    assert outcome_of(302).error == "HTTP 302 (redirects are not followed)"
    assert outcome_of(500).outcome is Outcome.FAILED
    gone = outcome_of(410)
    assert gone.outcome is Outcome.DISABLED
    assert after_attempt(d, gone, STANDARD_SCHEDULE, 1).state is DeliveryState.DEAD  # type: ignore[arg-type]
    refused = SendResult(Outcome.REFUSED, 550, "SMTP 550 no such user")
    assert after_attempt(d, refused, STANDARD_SCHEDULE, 1).state is DeliveryState.DEAD  # type: ignore[arg-type]


def test_signatures_verify_with_the_reference_library_for_each_rotated_secret() -> None:
    d = delivery()
    body = webhook_body(d)  # type: ignore[arg-type]
    now = int(time.time())
    headers = sign([SECRET_NEW, SECRET_OLD], d.id, now, body)  # type: ignore[attr-defined]
    assert headers["webhook-id"] == d.id and headers["webhook-id"].startswith("msg_")  # type: ignore[attr-defined]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET_NEW, SECRET_OLD):
        payload = Webhook(secret).verify(body, headers)
        assert payload["data"]["message"] == {"total": 3}
    other = "whsec_" + base64.b64encode(b"someone-else-entirely-0123456789").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_NEW).verify(body + b" ", headers)


NOTIFY_RULE = {
    "id": "task-done",
    "on": {"robot": {"type": "task", "status": ["succeeded", "failed"]}},
    "do": {
        "notify": {
            "channel": "inapp",
            "recipients": ["*", {"to": "key-1", "locale": "es"}],
            "template": {
                "en": {"subject": "{{ type }} {{ status }}", "text": "n={{ result.done }}"},
                "es": {"subject": "{{ type }} {{ status }}", "text": "n={{ result.done }} (es)"},
            },
        }
    },
}


async def test_a_notify_firing_rides_on_the_transition_and_is_stored_once(tmp_path: Path) -> None:
    """Two orchestrators settling the same attempt: the outcome applies once, so its outbox
    deliveries are stored once; a robot ending through the normal path fires too."""
    settings = fast_settings(tmp_path, rules=[NOTIFY_RULE])
    async with running(settings) as orchestrator:
        store = orchestrator.store
        parent = task(n=1, sleep=30)
        await submit(orchestrator, parent)
        held = await reaches(orchestrator, parent.id, RobotStatus.RUNNING)
        rules = orchestrator.rules.on_robot["task"]
        transitions = []
        for _ in range(2):
            t = succeed(parent.id, held.attempt, {"done": 7})
            orchestrator.rules.chain(held, t, rules)
            assert len(t.deliveries) == 2 and t.children == []
            transitions.append(t)
        assert await store.apply(transitions) == [True, False]
        page = await store.list_deliveries(limit=10)
        assert sorted((d.recipient, d.text) for d in page.deliveries) == [
            ("*", "n=7"),
            ("key-1", "n=7 (es)"),
        ]
        assert {d.id for d in page.deliveries} == {d.id for d in transitions[0].deliveries}
        [firing] = await store.list_firings("task-done")
        assert firing.outcome is FiringOutcome.FIRED and firing.detail.startswith("notify inapp")  # type: ignore[union-attr]


async def test_a_template_that_fails_to_render_records_a_failed_firing(tmp_path: Path) -> None:
    rule = {
        **NOTIFY_RULE,
        "do": {
            "notify": {
                "channel": "inapp",
                "recipients": ["*"],
                "template": {"en": {"text": "{{ payload.__class__ }}"}},
            }
        },
    }
    settings = fast_settings(tmp_path, rules=[rule])
    async with running(settings) as orchestrator:
        robot = task(n=1)
        await submit(orchestrator, robot)

        async def failed_firing() -> object:
            return await orchestrator.store.list_firings("task-done")

        [firing] = await eventually(failed_firing, 5.0, "the firing")
        assert firing.outcome is FiringOutcome.FAILED and "SecurityError" in firing.detail
        assert (await orchestrator.store.get_robot(robot.id)).status is RobotStatus.SUCCEEDED  # type: ignore[union-attr]
        assert (await orchestrator.store.list_deliveries()).deliveries == []


async def test_a_notify_rule_fires_only_where_its_when_holds(tmp_path: Path) -> None:
    rule = {**NOTIFY_RULE, "when": "payload.n == `2`"}
    settings = fast_settings(tmp_path, rules=[rule])
    async with running(settings) as orchestrator:
        quiet, loud = task(n=1), task(n=2)
        for robot in (quiet, loud):
            await submit(orchestrator, robot)

        async def both_done() -> bool:
            robots = [await orchestrator.store.get_robot(r.id) for r in (quiet, loud)]
            return all(r is not None and r.status is RobotStatus.SUCCEEDED for r in robots)

        await eventually(both_done, 5.0, "both robots to succeed")
        [firing] = await orchestrator.store.list_firings("task-done")
        assert firing.outcome is FiringOutcome.FIRED and firing.source == loud.id
        deliveries = (await orchestrator.store.list_deliveries()).deliveries
        assert len(deliveries) == 2  # its two recipients, for the loud robot alone


def test_env_secrets_and_urls_are_read_as_words_and_their_absence_names_the_variable() -> None:
    endpoint = WebhookEndpoint(name="ops", url="https://example.test/hook", secrets_env="HOOK")
    target = AppriseTarget(name="chat", urls_env="CHAT_URLS")
    assert endpoint_secrets(endpoint, {"HOOK": " new  old "}) == ["new", "old"]
    assert apprise_urls(target, {"CHAT_URLS": "a://x\nb://y"}) == ["a://x", "b://y"]
    with pytest.raises(ConfigError, match="^webhook ops: environment variable HOOK is not set$"):
        endpoint_secrets(endpoint, {"HOOK": "  "})
    with pytest.raises(
        ConfigError, match="^apprise chat: environment variable CHAT_URLS is not set$"
    ):
        apprise_urls(target, {})


async def test_a_commit_that_stores_deliveries_nudges_the_notifier(tmp_path: Path) -> None:
    """The writer calls ``after_deliveries`` once a commit holding outbox rows is done (the
    rows are readable then), and not for commits without any."""
    settings = fast_settings(tmp_path, rules=[NOTIFY_RULE])
    async with running(settings) as orchestrator:
        store = orchestrator.store
        seen: list[int] = []

        def nudge() -> None:
            seen.append(1)

        orchestrator.writer.after_deliveries = nudge
        robot = task(n=2)
        await submit(orchestrator, robot)

        async def nudged() -> bool:
            return bool(seen)

        await eventually(nudged, 5.0, "the notifier to be nudged")
        page = await store.list_deliveries(limit=10)
        assert len(page.deliveries) == 2  # stored before the nudge
        assert all(d.robot_id == robot.id for d in page.deliveries)
        nudges_before = len(seen)
        # a commit without deliveries (a robot started) does not nudge
        other = task(n=3, sleep=30)
        await submit(orchestrator, other)
        await reaches(orchestrator, other.id, RobotStatus.RUNNING)
        assert len(seen) == nudges_before
