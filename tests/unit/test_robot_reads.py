"""Robot reads at the gateway: finished robots from its memory, every other from the store."""

from __future__ import annotations

from typing import Any

from gateway.cache_client import GatewayCache
from gateway.finished_robots import FinishedRobots
from gateway.robot_reads import RobotReads
from runtime.models import Robot, RobotStatus


class CountingStore:
    """The one store call robot reads make, over rows a test changes as the writer would."""

    def __init__(self) -> None:
        self.rows: dict[str, Robot] = {}
        self.reads = 0

    async def get_robot(self, robot_id: str) -> Robot | None:
        self.reads += 1
        row = self.rows.get(robot_id)
        return None if row is None else row.model_copy(deep=True)

    def record(self, robot_id: str, status: RobotStatus, **fields: Any) -> None:
        row = self.rows.setdefault(robot_id, Robot(id=robot_id, type="echo"))
        self.rows[robot_id] = row.model_copy(update={"status": status, **fields})


def reads(store: CountingStore, enabled: bool = True, **bounds: Any) -> RobotReads:
    return RobotReads(store, GatewayCache(None), enabled, FinishedRobots(**bounds))  # type: ignore[arg-type]


async def test_a_robot_that_has_not_finished_is_read_from_the_store_every_time() -> None:
    store = CountingStore()
    robots = reads(store)
    store.record("r1", RobotStatus.QUEUED)
    assert (await robots.robot("r1")).status is RobotStatus.QUEUED  # type: ignore[union-attr]
    store.record("r1", RobotStatus.RUNNING, progress=0.5)
    seen = await robots.robot("r1")
    assert seen is not None and seen.status is RobotStatus.RUNNING and seen.progress == 0.5
    store.record("r1", RobotStatus.SUCCEEDED, result={"ok": True})
    seen = await robots.robot("r1")  # the state recorded a moment ago, not the one before
    assert seen is not None and seen.status is RobotStatus.SUCCEEDED and seen.result == {"ok": True}
    assert store.reads == 3


async def test_a_finished_robot_is_read_from_the_store_once_then_served_from_memory() -> None:
    store = CountingStore()
    robots = reads(store)
    store.record("r1", RobotStatus.FAILED, error="boom", attempt=3)
    first = await robots.robot("r1")
    again = [await robots.robot("r1") for _ in range(5)]
    assert store.reads == 1
    assert all(r == first for r in again)
    again[0].error = "changed by a caller"  # type: ignore[union-attr]
    assert (await robots.robot("r1")).error == "boom"  # type: ignore[union-attr]


async def test_an_unknown_robot_is_asked_of_the_store_each_time() -> None:
    store = CountingStore()
    robots = reads(store)
    assert await robots.robot("nope") is None
    assert await robots.robot("nope") is None
    assert store.reads == 2


async def test_with_cache_reads_off_every_read_goes_to_the_store() -> None:
    store = CountingStore()
    robots = reads(store, enabled=False)
    store.record("r1", RobotStatus.SUCCEEDED)
    for _ in range(3):
        await robots.robot("r1")
    assert store.reads == 3


def test_finished_robots_hold_only_terminal_ones_within_their_bounds() -> None:
    now = [0.0]
    finished = FinishedRobots(max_entries=2, ttl_s=10.0, clock=lambda: now[0])
    assert not finished.keep(Robot(id="q", type="echo", status=RobotStatus.QUEUED))
    assert not finished.keep(Robot(id="r", type="echo", status=RobotStatus.RUNNING))
    for robot_id in ("a", "b", "c"):
        assert finished.keep(Robot(id=robot_id, type="echo", status=RobotStatus.CANCELLED))
    assert len(finished) == 2 and finished.get("a") is None  # the least recently used went
    assert finished.get("c") is not None and finished.bytes > 0
    now[0] = 11.0
    assert finished.get("c") is None  # expired: the store is asked again
