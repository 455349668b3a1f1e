"""Rules on robots running long and on metric thresholds through a running robofleet: a
sleep robot running past N seconds delivers one signed webhook to a real aiohttp receiver,
exactly once, while a sleep robot that ends before N delivers nothing; a metric rule on the
sleep module's robots in flight fires, then resolves once they end; both are listed by
``robofleet rules`` and their firings recorded.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.integration.conftest import cli_out, holds, submit, wait_terminal, wait_until


async def _firings(http, fleet, rule_id: str) -> list[dict]:
    async with http.get(f"{fleet.url}/v1/rules/{rule_id}/firings") as response:
        assert response.status == 200, await response.text()
        return (await response.json())["firings"]


async def test_a_robot_running_past_n_delivers_one_webhook(
    fleet, http, hook_receiver, post_rules
) -> None:
    receiver = hook_receiver
    tag = uuid.uuid4().hex[:8]
    slow_rule = {
        "id": f"slow-{tag}",
        "on": {"running": {"type": "sleep", "longer_than_s": 2}},
        "when": f"payload.tag == '{tag}'",
        "do": {
            "notify": {
                "channel": "webhook",
                "recipients": ["billing"],
                "template": {
                    "en": {
                        "subject": "slow",
                        "text": '{"robot": "{{ id }}", "attempt": {{ attempt }}}',
                    }
                },
            }
        },
    }
    busy_rule = {
        "id": f"busy-{tag}",
        "on": {
            "metric": {
                "figure": "in_flight",
                "module": "sleep",
                "op": ">=",
                "value": 1,
                "for_s": 1,
            }
        },
        "do": {"submit": {"type": "echo", "map": {"held_s": "held_s", "value": "value"}}},
    }
    async with http.post(
        f"{fleet.url}/v1/rules",
        json={**slow_rule, "on": {"running": {"type": "sleep", "longer_than_s": 0}}},
    ) as response:
        assert response.status == 422
        assert "longer_than_s" in (await response.json())["error"]["message"]
    await post_rules([slow_rule, busy_rule])
    listed = cli_out(fleet, "rules", "list")
    assert f"slow-{tag}" in listed and "sleep > 2s" in listed
    assert f"busy-{tag}" in listed and "in_flight{module=sleep} >= 1 for 1s" in listed

    slow = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 6, "tag": tag}})
    quick = await submit(
        http, fleet.url, {"type": "sleep", "payload": {"seconds": 0.5, "tag": tag}}
    )
    robots = await wait_terminal(http, fleet.url, [slow, quick], timeout_s=60)
    assert {r["status"] for r in robots.values()} == {"succeeded"}
    await wait_until(lambda: holds(len(receiver.delivered) >= 1), 15, 0.1)
    await asyncio.sleep(3)  # the rule loop reads each second: room for a second firing

    assert receiver.bad_signatures == 0
    [(hook_id, payload)] = receiver.delivered.items()
    assert payload["data"]["message"] == {"robot": slow, "attempt": 1}
    assert payload["data"]["rule_id"] == f"slow-{tag}"
    assert receiver.seen[hook_id] == 1  # one request: delivered once, no resend
    [firing] = await _firings(http, fleet, f"slow-{tag}")
    assert firing["outcome"] == "fired" and firing["source"] == f"running:{slow}:1"
    assert hook_id in firing["detail"]
    assert f"running:{slow}:1" in cli_out(fleet, "rules", "firings", f"slow-{tag}")

    async def resolved() -> bool:
        return [f["outcome"] for f in await _firings(http, fleet, f"busy-{tag}")][:1] == [
            "resolved"
        ]

    await wait_until(resolved, 15, 0.2)
    busy = await _firings(http, fleet, f"busy-{tag}")
    assert [f["outcome"] for f in busy[:2]] == ["resolved", "fired"]
    assert busy[0]["source"] == busy[1]["source"]
    assert busy[1]["robot_id"]  # the echo robot it submitted
