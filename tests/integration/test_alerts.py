"""``POST /v1/alerts`` on a real gateway (aiohttp server, SQLite store) with the notifier
delivering to a real webhook receiver that verifies each signature: an Alertmanager batch
becomes notifications through ``on.alert`` rules, a resend makes none twice, a resolved
alert its own, and a payload that is not Alertmanager's is refused with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from actors.notifier import Notifier
from runtime.keys import Role, new_api_key
from runtime.notify.outbox import DeliveryState
from runtime.notify.settings import NotifySettings
from runtime.rules.model import Rule, RuleRecord
from tests.integration.conftest import wait_until
from tests.integration.gateway_app import local_gateway
from tests.integration.notify_servers import WebhookReceiver, new_secret

RULE = {
    "id": "page-on-queue",
    "on": {
        "alert": {
            "alertname": ["RobofleetQueueDepthHigh"],
            "labels": {"severity": "critical"},
            "status": ["firing", "resolved"],
        }
    },
    "do": {
        "notify": {
            "channel": "webhook",
            "recipients": ["ops"],
            "template": {
                "en": {
                    "subject": "{{ alert.status }}: {{ alert.labels.alertname }}",
                    "text": "{{ alert.annotations.summary }} ({{ alert.labels.module }})",
                }
            },
        }
    },
}


def batch(status: str = "firing", **labels: str) -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4) with one alert."""
    alert_labels = {"alertname": "RobofleetQueueDepthHigh", "severity": "critical", "module": "ocr"}
    alert_labels.update(labels)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RobofleetQueueDepthHigh"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "robofleet",
        "groupLabels": {"alertname": "RobofleetQueueDepthHigh"},
        "commonLabels": alert_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": "queue of ocr over bound <b>"},
                "startsAt": "2026-12-01T06:00:00Z",
                "endsAt": "2026-12-01T06:10:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "c0ffee1234",
            }
        ],
    }


async def test_alerts_become_notifications_once_each(tmp_path: Path) -> None:
    receiver = await WebhookReceiver(new_secret("alerts")).start()
    settings = NotifySettings.model_validate(
        {
            "webhooks": [{"name": "ops", "url": receiver.url, "secrets_env": "OPS_SECRET"}],
            "poll_s": 0.1,
        }
    )
    async with local_gateway(tmp_path) as (client, _admin, store):
        await store.save_rule(RuleRecord(rule=Rule.model_validate(RULE), origin="config"))
        secret, record = new_api_key(Role.OPERATOR)
        await store.create_api_key(record)
        auth = {"Authorization": f"Bearer {secret}"}
        notifier = Notifier(store, settings, environ={"OPS_SECRET": receiver.secret})
        await notifier.start()
        try:
            first = await client.post("/v1/alerts", json=batch(), headers=auth)
            assert first.status == 200, await first.text()
            answer = await first.json()
            assert (answer["alerts"], answer["fired"], answer["repeated"]) == (1, 1, 0)
            [delivery_id] = answer["notifications"]
            again = await (await client.post("/v1/alerts", json=batch(), headers=auth)).json()
            assert (again["fired"], again["repeated"], again["notifications"]) == (0, 1, [])
            other = batch(severity="ticket")  # labels the rule does not match
            other["alerts"][0]["fingerprint"] = "other"
            unmatched = await (await client.post("/v1/alerts", json=other, headers=auth)).json()
            assert (unmatched["fired"], unmatched["repeated"]) == (0, 0)
            resolved = await client.post("/v1/alerts", json=batch("resolved"), headers=auth)
            assert (await resolved.json())["fired"] == 1

            async def both_arrived() -> bool:
                return len(receiver.delivered) == 2

            await wait_until(both_arrived, 30, 0.05)
        finally:
            await notifier.stop()
            await receiver.stop()
        assert receiver.bad_signatures == 0
        payload = receiver.delivered[delivery_id]
        assert payload["data"]["subject"] == "firing: RobofleetQueueDepthHigh"
        assert payload["data"]["message"] == "queue of ocr over bound <b> (ocr)"
        subjects = sorted(p["data"]["subject"] for p in receiver.delivered.values())
        assert subjects == ["firing: RobofleetQueueDepthHigh", "resolved: RobofleetQueueDepthHigh"]
        assert await store.count_deliveries(DeliveryState.DELIVERED) == 2
        firings = await store.list_firings("page-on-queue")
        assert [f.source for f in firings] == [
            "alert:c0ffee1234:resolved:2026-12-01T06:00:00Z",
            "alert:c0ffee1234:firing:2026-12-01T06:00:00Z",
        ]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"version": "3"}, 422, "version"),
        ({"alerts": []}, 422, "alerts"),
        ({"alerts": [{"status": "firing", "labels": {}}]}, 422, "fingerprint"),
        ({"status": "burning"}, 422, "status"),
        ({"truncatedAlerts": False}, 422, "truncatedAlerts"),
        ({"truncatedAlerts": 3.5}, 422, "truncatedAlerts"),
        ({"truncatedAlerts": "3"}, 422, "truncatedAlerts"),
        ({"alerts": [{**batch()["alerts"][0], "startsAt": "yesterday"}]}, 422, "startsAt"),
        ({"alerts": [{**batch()["alerts"][0], "startsAt": "2026-12-01T06:00"}]}, 422, "startsAt"),
    ],
)
async def test_a_payload_that_is_not_alertmanagers_is_refused_with_a_message(
    tmp_path: Path, change: dict[str, Any], status: int, says: str
) -> None:
    async with local_gateway(tmp_path) as (client, admin, _store):
        auth = {"Authorization": f"Bearer {admin}"}
        response = await client.post("/v1/alerts", json={**batch(), **change}, headers=auth)
        assert response.status == status
        assert says in (await response.json())["error"]["message"]


async def test_the_receiver_needs_a_key_and_json(tmp_path: Path) -> None:
    async with local_gateway(tmp_path) as (client, admin, store):
        assert (await client.post("/v1/alerts", json=batch())).status == 401
        secret, record = new_api_key(Role.VIEWER)
        await store.create_api_key(record)
        viewer = {"Authorization": f"Bearer {secret}"}
        assert (await client.post("/v1/alerts", json=batch(), headers=viewer)).status == 403
        auth = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        broken = await client.post("/v1/alerts", data=b"{not json", headers=auth)
        assert broken.status == 400


def test_an_alert_rule_only_notifies() -> None:
    submit = {**RULE, "do": {"submit": {"type": "echo"}}}
    with pytest.raises(ValidationError, match="an alert rule notifies"):
        Rule.model_validate(submit)
    one_of = "exactly one of robot, queue, schedule, running, metric, alert"
    with pytest.raises(ValidationError, match=one_of):
        Rule.model_validate({**RULE, "on": {**RULE["on"], "robot": {"type": "echo"}}})
