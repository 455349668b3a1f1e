"""Micro-batching of submits and group commit: how many calls, of what size, when."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.batching import SubmitBatcher
from runtime.messages import SubmitAnswer, SubmitRequest
from runtime.models import Robot
from runtime.store.group_commit import GroupCommit


def robot(n: int) -> SubmitRequest:
    """A submit of robot ``n`` (its id is ``str(n)``)."""
    return SubmitRequest(robot=Robot(id=str(n), type="echo"))


def answer(n: int) -> SubmitAnswer:
    """The orchestrator's answer to :func:`robot` ``n``."""
    return SubmitAnswer(id=str(n))


def answers(requests: list[SubmitRequest]) -> list[SubmitAnswer]:
    return [SubmitAnswer(id=r.robot.id) for r in requests]


class Orchestrator:
    """A stand-in that holds each call until the test releases it."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release: list[asyncio.Event] = []

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        self.calls.append([int(r.robot.id) for r in requests])
        gate = asyncio.Event()
        self.release.append(gate)
        await gate.wait()
        return answers(requests)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_robot_goes_at_once() -> None:
    orchestrator = Orchestrator()
    batcher = SubmitBatcher(orchestrator.submit_many)
    pending = asyncio.ensure_future(batcher.submit(robot(1)))
    await settle()
    assert orchestrator.calls == [[1]]
    orchestrator.release[0].set()
    assert await pending == answer(1)


async def test_robots_arriving_during_a_call_wait_and_go_together() -> None:
    orchestrator = Orchestrator()
    batcher = SubmitBatcher(orchestrator.submit_many, min_overlap=8)
    first = asyncio.ensure_future(batcher.submit(robot(0)))
    await settle()
    waiting = [asyncio.ensure_future(batcher.submit(robot(n))) for n in range(1, 6)]
    await settle()
    assert orchestrator.calls == [[0]]  # 5 waiting < min_overlap: no second call
    orchestrator.release[0].set()
    await settle()
    assert orchestrator.calls == [[0], [1, 2, 3, 4, 5]]
    orchestrator.release[1].set()
    assert await first == answer(0)
    assert [await w for w in waiting] == [answer(n) for n in range(1, 6)]


async def test_a_second_call_overlaps_once_enough_robots_wait() -> None:
    orchestrator = Orchestrator()
    batcher = SubmitBatcher(orchestrator.submit_many, max_in_flight=2, min_overlap=3)
    answers = [asyncio.ensure_future(batcher.submit(robot(0)))]
    await settle()
    answers += [asyncio.ensure_future(batcher.submit(robot(n))) for n in range(1, 10)]
    await settle()
    # the second call left as soon as 3 waited; the rest wait for a free slot
    assert orchestrator.calls == [[0], [1, 2, 3]]
    orchestrator.release[1].set()
    await settle()
    assert orchestrator.calls[2] == [4, 5, 6, 7, 8, 9]
    for gate in orchestrator.release:
        gate.set()
    assert [await a for a in answers] == [answer(n) for n in range(10)]


async def test_a_failed_call_fails_every_robot_in_it() -> None:
    async def broken(requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        raise RuntimeError("orchestrator gone")

    batcher = SubmitBatcher(broken)
    results = await asyncio.gather(
        *(batcher.submit(robot(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_group_commit_with_two_flushers_overlaps_commits_and_drains_on_close() -> None:
    started: list[list[int]] = []
    gates: list[asyncio.Event] = []

    async def commit(ops: Any) -> list[int]:
        started.append(list(ops))
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        return [op * 10 for op in ops]

    writes: GroupCommit[int] = GroupCommit(commit, flushers=2, name="test")
    writes.start()
    first = asyncio.ensure_future(writes.submit(1))
    await settle()
    second = [asyncio.ensure_future(writes.submit(n)) for n in (2, 3)]
    await settle()
    assert started == [[1], [2, 3]]  # the second batch did not wait for the first commit
    third = asyncio.ensure_future(writes.submit(4))
    await settle()
    assert len(started) == 2  # both flushers busy: 4 waits
    gates[1].set()
    await settle()
    assert started[2] == [4]
    closing = asyncio.ensure_future(writes.close())
    for gate in gates:
        gate.set()
    await closing
    assert [await first, *[await s for s in second], await third] == [10, 20, 30, 40]
    with pytest.raises(Exception, match="not open"):
        await writes.submit(5)


async def test_robots_behind_a_slow_call_go_after_max_wait_however_few() -> None:
    orchestrator = Orchestrator()
    batcher = SubmitBatcher(orchestrator.submit_many, min_overlap=32, max_wait_s=0.02)
    first = asyncio.ensure_future(batcher.submit(robot(0)))
    await settle()
    late = asyncio.ensure_future(batcher.submit(robot(1)))
    await settle()
    assert orchestrator.calls == [[0]]
    await asyncio.sleep(0.05)
    assert orchestrator.calls == [[0], [1]]  # the first call still hangs
    orchestrator.release[1].set()
    assert await late == answer(1)
    orchestrator.release[0].set()
    assert await first == answer(0)


async def test_a_small_crowd_of_clients_makes_two_waves_of_half_each() -> None:
    """8 clients, each submitting again once answered: calls overlap with about 4 robots each.

    With the fixed threshold of 32 they could never overlap: each wave waited out the call
    in flight before it, doubling every robot's wait.
    """
    sizes: list[int] = []
    in_flight = peak = 0

    async def orchestrator(requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        nonlocal in_flight, peak
        sizes.append(len(requests))
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        return answers(requests)

    batcher = SubmitBatcher(orchestrator, max_in_flight=2, min_overlap=32)

    async def client(n: int) -> None:
        for i in range(60):
            assert await batcher.submit(robot(n * 1000 + i)) == answer(n * 1000 + i)

    await asyncio.gather(*(client(n) for n in range(8)))
    assert batcher.overlap_at() == 4
    assert peak == 2
    late = sizes[len(sizes) // 2 :]
    assert max(late) <= 6 and sum(late) / len(late) >= 2.5


async def test_a_crowd_bigger_than_min_overlap_keeps_min_overlap() -> None:
    batcher = SubmitBatcher(Orchestrator().submit_many, max_in_flight=2, min_overlap=32)
    assert batcher.overlap_at() == 32
