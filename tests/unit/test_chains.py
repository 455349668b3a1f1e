"""Chains and queue triggers through the orchestrator without Ray: a robot's success submits
the next robot with a mapped payload and its parent; the step is stored with the parent's
outcome; a queue trigger keeps at most M robots; rules not watching a type cost nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runtime.lifecycle import succeed
from runtime.models import FiringOutcome, RobotStatus
from runtime.rules.model import Rule
from tests.unit.fakes import eventually, fast_settings
from tests.unit.test_orchestrator import running, submit, task

S = RobotStatus


def stage_rule(rule_id: str, from_stage: str, to_stage: str) -> dict[str, Any]:
    """task(stage=from) succeeded → task(stage=to) with the parent's result mapped in."""
    return {
        "id": rule_id,
        "on": {"robot": {"type": "task", "status": ["succeeded"]}},
        "when": f"payload.stage == '{from_stage}'",
        "do": {
            "submit": {
                "type": "task",
                "payload": {"stage": to_stage},
                "map": {"n": "result.done", "from": "id"},
            }
        },
    }


CHAIN = [stage_rule("a-to-b", "a", "b"), stage_rule("b-to-c", "b", "c")]


async def test_a_three_step_chain_carries_parents_children_and_mapped_payloads(
    tmp_path: Path,
) -> None:
    settings = fast_settings(tmp_path, rules=CHAIN)
    async with running(settings) as orchestrator:
        firsts = [task(stage="a", n=i) for i in range(20)]
        await submit(orchestrator, *firsts)
        store = orchestrator.store

        async def sixty_done() -> bool:
            page = await store.list_robots(status=S.SUCCEEDED, limit=100)
            return len(page.robots) == 60

        await eventually(sixty_done, 10.0, "60 robots to succeed")
        robots = {r.id: r for r in (await store.list_robots(limit=100)).robots}
        assert len(robots) == 60
        for first in firsts:
            a = robots[first.id]
            assert a.parent_id is None and len(a.children) == 1
            b = robots[a.children[0]]
            assert b.parent_id == a.id and b.payload == {
                "stage": "b",
                "n": a.payload["n"],
                "from": a.id,
            }
            assert b.rule_id == "a-to-b" and b.idempotency_key == f"rule:a-to-b:{a.id}"
            c = robots[b.children[0]]
            assert c.parent_id == b.id and c.payload["stage"] == "c" and c.children == []
        firings = await store.list_firings("a-to-b", limit=100)
        assert len(firings) == 20
        assert {f.outcome for f in firings} == {FiringOutcome.FIRED}


async def test_a_chain_step_is_written_only_with_the_outcome_that_applies(tmp_path: Path) -> None:
    """Two orchestrators settling the same attempt (the old one's late answer after a
    restart): the parent's success applies once, so its chain step is stored once."""
    settings = fast_settings(tmp_path, rules=CHAIN)
    async with running(settings) as orchestrator:
        store = orchestrator.store
        parent = task(stage="a", n=1, sleep=30)
        await submit(orchestrator, parent)

        async def started() -> bool:
            robot = await store.get_robot(parent.id)
            return robot is not None and robot.status is S.RUNNING

        await eventually(started, 5.0, "the parent to start")
        rules = orchestrator.rules.on_robot["task"]
        held = await store.get_robot(parent.id)
        assert held is not None
        transitions = []
        for _ in range(2):
            t = succeed(parent.id, held.attempt, {"done": 7})
            orchestrator.rules.chain(held, t, rules)
            transitions.append(t)
        assert await store.apply(transitions) == [True, False]
        stored = await store.get_robot(parent.id)
        assert stored is not None and len(stored.children) == 1
        child = await store.get_robot(stored.children[0])
        assert child is not None and child.parent_id == parent.id and child.payload["n"] == 7
        assert len(await store.list_firings("a-to-b")) == 1
        assert transitions[1].children[0].id not in {child.id}  # its twin was never stored
        assert await store.get_robot(transitions[1].children[0].id) is None


async def test_a_mapping_that_fails_records_a_failed_firing_and_the_parent_still_succeeds(
    tmp_path: Path,
) -> None:
    rule = {
        "id": "to-nowhere",
        "on": {"robot": {"type": "task", "status": ["succeeded", "failed"]}},
        "do": {"submit": {"type": "no-such-type", "map": {"x": "result"}}},
    }
    async with running(fast_settings(tmp_path, rules=[rule])) as orchestrator:
        robot = task(n=3)
        await submit(orchestrator, robot)

        async def succeeded() -> Any:
            stored = await orchestrator.store.get_robot(robot.id)
            return stored if stored is not None and stored.status is S.SUCCEEDED else None

        stored = await eventually(succeeded, 5.0, "the robot to succeed")
        assert stored.children == []
        [firing] = await orchestrator.store.list_firings("to-nowhere")
        assert firing.outcome is FiringOutcome.FAILED
        assert "no module handles type 'no-such-type'" in (firing.detail or "")


async def test_a_queue_trigger_keeps_at_most_m_robots(tmp_path: Path) -> None:
    modules = [
        {"name": "work", "class": "tests.unit.fakes:Scripted", "replicas": 0, "max_concurrency": 4},
        {
            "name": "drain",
            "class": "tests.unit.fakes:Scripted",
            "replicas": 0,
            "max_concurrency": 4,
            "options": {},
        },
    ]
    rule = {
        "id": "drainer",
        "on": {"queue": {"type": "task", "items": 3}},
        "do": {"submit": {"type": "task", "payload": {"drain": True}, "map": {"seen": "items"}}},
        "max_running": 2,
    }
    async with running(fast_settings(tmp_path, modules=modules[:1], rules=[rule])) as orchestrator:
        await submit(orchestrator, *[task(n=i) for i in range(9)])
        orchestrator.rules.wake()
        await asyncio.sleep(0.3)
        await eventually(lambda: len(orchestrator.rules.active["drainer"]) == 2, 5.0)
        await asyncio.sleep(1.2)  # another look at the queue: still two at most
        fired = await orchestrator.store.list_firings("drainer")
        assert [f.outcome for f in fired] == [FiringOutcome.FIRED] * 2
        drains = [r for r in orchestrator.robots.values() if r.payload.get("drain")]
        assert len(drains) == 2 and all(r.payload["seen"] >= 9 for r in drains)


async def test_a_rule_on_its_own_type_makes_one_step_not_a_loop(tmp_path: Path) -> None:
    rule = {"id": "again", "on": {"robot": {"type": "task"}}, "do": {"submit": {"type": "task"}}}
    async with running(fast_settings(tmp_path, rules=[rule])) as orchestrator:
        await submit(orchestrator, *[task(n=i) for i in range(5)])

        async def ten_done() -> bool:
            page = await orchestrator.store.list_robots(status=S.SUCCEEDED, limit=100)
            return len(page.robots) == 10

        await eventually(ten_done, 5.0, "ten robots to succeed")
        await asyncio.sleep(0.3)
        robots = (await orchestrator.store.list_robots(limit=100)).robots
        assert len(robots) == 10
        assert sum(1 for r in robots if r.rule_id == "again" and r.children == []) == 5


def test_a_bad_expression_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="JMESPath"):
        Rule.model_validate(
            {
                "id": "bad",
                "on": {"robot": {"type": "echo"}},
                "do": {"submit": {"type": "x", "map": {"a": "result.["}}},
            }
        )


async def test_an_outcome_the_store_refuses_takes_its_chain_step_with_it(tmp_path: Path) -> None:
    """The parent's result cannot be stored, so it is recorded failed: its success's chain
    step is not stored, and nothing is queued that the store does not hold."""
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    async with running(fast_settings(tmp_path, rules=CHAIN)) as orchestrator:
        parent = task(stage="a", n=deep)
        await submit(orchestrator, parent)

        async def failed() -> Any:
            stored = await orchestrator.store.get_robot(parent.id)
            return stored if stored is not None and stored.status is S.FAILED else None

        stored = await eventually(failed, 5.0, "the parent to be recorded failed")
        assert "could not record" in (stored.error or "") and stored.children == []
        await asyncio.sleep(0.2)
        assert (await orchestrator.store.list_robots(limit=10)).robots == [stored]
        assert orchestrator.robots == {}
        assert await orchestrator.store.list_firings("a-to-b") == []


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("nosuchfn(id)", "unknown function nosuchfn"),
        ("result || to_string(nosuch(id))", "unknown function nosuch"),
        ("length(id, id)", r"length\(\) takes 1 arguments, 2 given"),
    ],
)
def test_a_call_of_an_unknown_function_is_refused_at_save(expression: str, reason: str) -> None:
    """JMESPath resolves functions only when it evaluates: the save checks them."""
    for where in ("map", "when"):
        rule: dict[str, Any] = {
            "id": "bad",
            "on": {"robot": {"type": "echo"}},
            "do": {"submit": {"type": "x"}},
        }
        if where == "map":
            rule["do"]["submit"]["map"] = {"x": expression}
        else:
            rule["when"] = expression
        with pytest.raises(ValidationError, match=f"invalid JMESPath expression .*{reason}"):
            Rule.model_validate(rule)
    Rule.model_validate(
        {
            "id": "good",
            "on": {"robot": {"type": "echo"}},
            "when": "length(result.items) > `0` && contains(type, 'ech')",
            "do": {"submit": {"type": "x", "map": {"n": "max_by(items, &n).n"}}},
        }
    )


def echo_rule(rule_id: str, when: str | None = None, to_stage: str | None = None) -> dict[str, Any]:
    """task succeeded → task (a stage set when given)."""
    rule: dict[str, Any] = {
        "id": rule_id,
        "on": {"robot": {"type": "task", "status": ["succeeded"]}},
        "do": {"submit": {"type": "task", "payload": {"stage": to_stage} if to_stage else {}}},
    }
    if when is not None:
        rule["when"] = when
    return rule


async def _refused_after(orchestrator: Any, robots: int, rule_ids: list[str]) -> None:
    store = orchestrator.store

    async def all_done() -> bool:
        page = await store.list_robots(status=S.SUCCEEDED, limit=100)
        refused = [
            f for r in rule_ids for f in await store.list_firings(r, limit=100)
            if f.outcome is FiringOutcome.SKIPPED
        ]
        return len(page.robots) == robots and len(refused) > 0

    await eventually(all_done, 10.0, f"{robots} robots and a refused step")
    await asyncio.sleep(0.3)  # no further robots come
    assert len((await store.list_robots(limit=100)).robots) == robots


async def test_two_rules_firing_on_each_others_robots_stop_at_the_chain_depth(
    tmp_path: Path,
) -> None:
    rules = [echo_rule("loop-A"), echo_rule("loop-B")]
    async with running(fast_settings(tmp_path, rules=rules, rule_chain_depth=3)) as orch:
        await submit(orch, task(n=1))
        # The first robot fires both rules; each chain alternates A, B, A: 3 steps each.
        await _refused_after(orch, 1 + 2 * 3, ["loop-A", "loop-B"])
        firings = [
            *await orch.store.list_firings("loop-A", limit=100),
            *await orch.store.list_firings("loop-B", limit=100),
        ]
        refused = [f for f in firings if f.outcome is FiringOutcome.SKIPPED]
        assert len(refused) == 2
        assert all(
            f.detail is not None and "refused: the chain is 3 robots deep" in f.detail
            and f.robot_id is None
            for f in refused
        )


async def test_a_three_rule_cycle_stops_at_the_chain_depth(tmp_path: Path) -> None:
    rules = [
        echo_rule("a-b", "payload.stage == 'a'", "b"),
        echo_rule("b-c", "payload.stage == 'b'", "c"),
        echo_rule("c-a", "payload.stage == 'c'", "a"),
    ]
    async with running(fast_settings(tmp_path, rules=rules, rule_chain_depth=4)) as orch:
        await submit(orch, task(stage="a"))
        await _refused_after(orch, 1 + 4, ["a-b", "b-c", "c-a"])
        refused = await orch.store.list_firings("b-c", limit=100)  # a→b→c→a→b, then b-c
        assert [f.outcome for f in refused][0] is FiringOutcome.SKIPPED
