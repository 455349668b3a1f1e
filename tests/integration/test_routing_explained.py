"""Routing explained against the session's deployment: ``GET /v1/robots/{id}/routing`` and
``robofleet status ID --routing`` show why each attempt went where it went.

The ``convert`` type is served by two modules of the test config (``primary`` and
``secondary``), so each decision shows both candidates' scores; ``sleep`` runs on three
replicas, so power-of-two-choices compares two of them.
"""

from __future__ import annotations

import asyncio

from cluster import cli
from tests.integration.conftest import submit, wait_terminal, wait_until
from tests.integration.test_auth import bearer, create_key


async def routing_of(http, url: str, robot_id: str, headers=None) -> dict:
    async with http.get(f"{url}/v1/robots/{robot_id}/routing", headers=headers) as response:
        body = await response.json()
        assert response.status == 200, body
        return body


def weighted(candidate: dict) -> float:
    return 0.5 * candidate["performance"] + 0.3 * candidate["capacity"] + 0.2 * candidate["health"]


async def test_a_type_served_by_two_modules_shows_both_scores_and_why(fleet, http, capsys):
    ids = list(
        await asyncio.gather(*(submit(http, fleet.url, {"type": "convert"}) for _ in range(12)))
    )
    robots = await wait_terminal(http, fleet.url, ids)
    winners = set()
    for robot_id in ids:
        answer = await routing_of(http, fleet.url, robot_id)
        assert answer["weights"] == "0.5 * performance + 0.3 * capacity + 0.2 * health"
        [attempt] = [a for a in answer["attempts"] if a["attempt"] == robots[robot_id]["attempt"]]
        decision = attempt["decision"]
        scores = {c["module"]: c for c in decision["candidates"]}
        assert set(scores) == {"primary", "secondary"}
        for candidate in scores.values():
            assert candidate["total"] == weighted(candidate)
            assert 0 <= candidate["capacity"] <= 1 and candidate["health"] in (0, 0.5, 1)
        winner = decision["module"]
        assert winner == attempt["module"] == robots[robot_id]["module"]
        assert decision["replica"] == attempt["replica"] == robots[robot_id]["replica"]
        [loser] = set(scores) - {winner}
        if decision["win"] == "best_score":
            assert scores[winner]["total"] >= scores[loser]["total"]
            assert decision["why"].startswith(
                f"{winner} {scores[winner]['total']:.3f} won: the highest total, ahead of "
                f"{loser} {scores[loser]['total']:.3f}"
            )
        else:  # the other was left out (its breaker, its health, or no free slot)
            assert decision["win"] in ("only_candidate", "breaker_trial")
            assert scores[loser]["excluded"] or decision["win"] == "breaker_trial"
        [seen] = decision["compared"]  # one replica each: the only one with a free slot
        assert seen["name"] == decision["replica"]
        winners.add(winner)
    assert winners <= {"primary", "secondary"}

    shown = ids[0]
    code = cli.main(
        ["status", shown, "--routing", "--url", fleet.url, "--api-key", fleet.admin_key]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "primary" in out and "secondary" in out and "why:" in out
    print(out)


async def test_a_running_robot_shows_the_two_replicas_compared(fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 1.5}})

    async def running_attempt() -> bool:
        answer = await routing_of(http, fleet.url, robot_id)
        return bool(answer["attempts"]) and answer["attempts"][-1]["status"] == "running"

    await wait_until(running_attempt, timeout_s=20, interval_s=0.1)
    answer = await routing_of(http, fleet.url, robot_id)
    decision = answer["attempts"][-1]["decision"]
    assert [c["module"] for c in decision["candidates"]] == ["sleep"]
    assert decision["module"] == "sleep" and decision["win"] == "only_candidate"
    compared = decision["compared"]
    assert len(compared) in (1, 2)
    if len(compared) == 2:  # three replicas with free slots: two compared, fewer in flight won
        chosen = next(r for r in compared if r["name"] == decision["replica"])
        assert chosen["in_flight"] == min(r["in_flight"] for r in compared)
        assert "fewer in flight of" in decision["why"]
    await wait_terminal(http, fleet.url, [robot_id])
    [finished] = (await routing_of(http, fleet.url, robot_id))["attempts"]
    assert finished["status"] == "succeeded" and finished["decision"] == decision


async def test_routing_is_read_scoped_and_404s_for_an_unknown_robot(fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "convert"})
    await wait_terminal(http, fleet.url, [robot_id])
    async with http.get(f"{fleet.url}/v1/robots/nosuchrobot1/routing") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    viewer = await create_key(http, fleet.url, role="viewer", name="routing-viewer")
    echo_only = await create_key(http, fleet.url, role="viewer", modules=["echo"])
    assert (await routing_of(http, fleet.url, robot_id, bearer(viewer["key"])))["attempts"]
    url = f"{fleet.url}/v1/robots/{robot_id}/routing"
    async with http.get(url, headers=bearer(echo_only["key"])) as response:
        assert response.status == 403


async def test_a_robot_held_up_in_line_says_why_it_waits_and_keeps_it(fleet, http):
    """Twelve sleeping robots fill the sleep module's 3 x 4 slots; a thirteenth, of the
    lowest priority, waits: the route says why while it waits, and its attempt keeps it."""
    body = {"type": "sleep", "payload": {"seconds": 1.5}}
    busy = list(await asyncio.gather(*(submit(http, fleet.url, body) for _ in range(12))))
    last = await submit(http, fleet.url, {**body, "payload": {"seconds": 0.1}, "priority": 0})
    seen: dict = {}

    async def waiting() -> bool:
        answer = await routing_of(http, fleet.url, last)
        seen.update(answer)
        return answer["status"] == "queued" and answer["waiting"] is not None

    await wait_until(waiting, timeout_s=20, interval_s=0.1)
    held = seen["waiting"]
    assert held["wait"] == held["waited"] == "no_free_slot"
    assert [(c["module"], c["excluded"]) for c in held["candidates"]] == [("sleep", "no_free_slot")]
    assert held["candidates"][0]["capacity"] == 0
    assert held["why"].startswith("no module could take it (no_free_slot")
    await wait_terminal(http, fleet.url, [*busy, last])
    answer = await routing_of(http, fleet.url, last)
    assert answer["waiting"] is None
    placed = answer["attempts"][-1]["decision"]
    assert placed["waited"] == "no_free_slot" and placed["waited_s"] > 0
    assert "in line: no_free_slot" in placed["why"]
