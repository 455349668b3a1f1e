import types

import pytest

import runtime.queue
from runtime.queue import RobotQueue


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(1_000.0)
    monkeypatch.setattr(runtime.queue, "time", types.SimpleNamespace(time=clock.time))
    return clock


def drain(queue: RobotQueue) -> list[str]:
    out = []
    while (item := queue.pop()) is not None:
        out.append(item[0])
    return out


def push(queue, robot_id, *, attempt=1, priority=5, deadline=None, created_at=0.0, not_before=0.0):
    queue.push(robot_id, attempt, priority, deadline, created_at, not_before)


def test_higher_priority_first_nine_most_urgent(clock):
    q = RobotQueue()
    for robot_id, priority in [("p0", 0), ("p5", 5), ("p9", 9), ("p3", 3)]:
        push(q, robot_id, priority=priority)
    assert drain(q) == ["p9", "p5", "p3", "p0"]


def test_same_priority_earlier_deadline_first_and_none_last(clock):
    q = RobotQueue()
    push(q, "none", deadline=None)
    push(q, "late", deadline=2_000.0)
    push(q, "soon", deadline=1_100.0)
    assert drain(q) == ["soon", "late", "none"]


def test_priority_beats_deadline(clock):
    q = RobotQueue()
    push(q, "urgent-deadline", priority=5, deadline=1_001.0)
    push(q, "high-priority", priority=9, deadline=None)
    assert drain(q) == ["high-priority", "urgent-deadline"]


def test_same_priority_and_deadline_older_first(clock):
    q = RobotQueue()
    push(q, "c", created_at=30.0)
    push(q, "a", created_at=10.0)
    push(q, "b", created_at=20.0)
    assert drain(q) == ["a", "b", "c"]


def test_full_tie_is_first_in_first_out(clock):
    q = RobotQueue()
    for robot_id in "xyzw":
        push(q, robot_id, created_at=5.0)
    assert drain(q) == list("xyzw")


def test_pop_returns_id_and_attempt(clock):
    q = RobotQueue()
    push(q, "r", attempt=3)
    assert q.pop() == ("r", 3)
    assert q.pop() is None


def test_delayed_robot_waits_until_not_before(clock):
    q = RobotQueue()
    push(q, "later", priority=9, not_before=1_010.0)
    assert "later" in q and len(q) == 1
    assert q.pop() is None
    assert q.ready_count() == 0
    assert q.next_ready_at() == 1_010.0

    clock.now = 1_009.9
    assert q.pop() is None

    clock.now = 1_010.0
    assert q.pop() == ("later", 1)
    assert len(q) == 0 and q.next_ready_at() is None


def test_delayed_robot_does_not_block_ready_ones(clock):
    q = RobotQueue()
    push(q, "delayed-urgent", priority=9, not_before=1_060.0)
    push(q, "ready-low", priority=0)
    assert q.pop() == ("ready-low", 1)
    assert q.pop() is None
    clock.now = 1_060.0
    assert q.pop() == ("delayed-urgent", 1)


def test_promoted_robot_takes_its_priority_place(clock):
    q = RobotQueue()
    push(q, "retry", priority=9, not_before=1_005.0)
    push(q, "low", priority=1)
    clock.now = 1_005.0
    assert drain(q) == ["retry", "low"]


def test_not_before_in_the_past_is_ready_at_once(clock):
    q = RobotQueue()
    push(q, "r", not_before=999.0)
    assert q.pop() == ("r", 1)


def test_discard_forgets_a_waiting_robot(clock):
    q = RobotQueue()
    push(q, "a", priority=9)
    push(q, "b", priority=1)
    assert q.discard("a") is True
    assert "a" not in q and len(q) == 1
    assert q.discard("a") is False
    assert q.discard("never-queued") is False
    assert drain(q) == ["b"]


def test_discard_a_delayed_robot(clock):
    q = RobotQueue()
    push(q, "d", not_before=1_050.0)
    assert q.discard("d") is True
    clock.now = 2_000.0
    assert q.pop() is None


def test_discarded_robot_can_be_queued_again_and_pops_once(clock):
    q = RobotQueue()
    push(q, "r")
    q.discard("r")
    push(q, "r")
    assert drain(q) == ["r"]


def test_newer_attempt_supersedes_older(clock):
    q = RobotQueue()
    push(q, "r", attempt=1, priority=0)
    push(q, "other", priority=5)
    push(q, "r", attempt=2, priority=9)
    assert len(q) == 2
    assert q.pop() == ("r", 2)
    assert q.pop() == ("other", 1)
    assert q.pop() is None  # the stale attempt-1 entry is never handed out


def test_older_attempt_does_not_replace_newer(clock):
    q = RobotQueue()
    push(q, "r", attempt=2)
    push(q, "r", attempt=1)
    assert q.pop() == ("r", 2)
    assert q.pop() is None


def test_newer_attempt_with_delay_supersedes_ready_one(clock):
    q = RobotQueue()
    push(q, "r", attempt=1)
    push(q, "r", attempt=2, not_before=1_030.0)
    assert q.pop() is None
    clock.now = 1_030.0
    assert q.pop() == ("r", 2)
    assert q.pop() is None


def test_duplicate_push_is_ignored_and_keeps_place(clock):
    q = RobotQueue()
    push(q, "dup", priority=1, created_at=1.0)
    push(q, "mid", priority=5, created_at=2.0)
    push(q, "dup", priority=9, created_at=3.0)  # same attempt: no jump ahead
    assert len(q) == 2
    assert drain(q) == ["mid", "dup"]
