import itertools
import time

import pytest

from runtime import lifecycle
from runtime.lifecycle import ALLOWED, Transition, give_up_or_retry
from runtime.models import TERMINAL_STATUSES, Robot, RobotStatus

S = RobotStatus
ALL_PAIRS = list(itertools.product(S, S))
ALLOWED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED[a]]
FORBIDDEN_PAIRS = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED[a]]


@pytest.mark.parametrize(("src", "dst"), ALLOWED_PAIRS)
def test_allowed_transitions_construct(src, dst):
    t = Transition("r", 1, src, dst)
    assert (t.from_status, t.to_status) == (src, dst)


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN_PAIRS)
def test_forbidden_transitions_raise(src, dst):
    with pytest.raises(ValueError, match="no transition"):
        Transition("r", 1, src, dst)


def test_expected_lifecycle_edges():
    assert {
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.QUEUED),
        (S.RUNNING, S.FAILED),
        (S.QUEUED, S.CANCELLED),
    } <= set(ALLOWED_PAIRS)
    assert {
        (S.QUEUED, S.SUCCEEDED),
        (S.SUCCEEDED, S.QUEUED),
        (S.DEAD, S.QUEUED),
        (S.CANCELLED, S.RUNNING),
    } <= set(FORBIDDEN_PAIRS)


def test_terminal_statuses_have_no_way_out():
    for status in TERMINAL_STATUSES:
        assert ALLOWED[status] == frozenset()
        assert status.terminal
    assert not S.QUEUED.terminal and not S.RUNNING.terminal


def test_start_succeed_cancel_record_what_they_did():
    started = lifecycle.start("r", 1, "echo", "echo-0")
    assert (started.from_status, started.to_status) == (S.QUEUED, S.RUNNING)
    assert started.fields["module"] == "echo" and started.fields["replica"] == "echo-0"

    done = lifecycle.succeed("r", 1, {"ok": 1})
    assert done.to_status is S.SUCCEEDED
    assert done.fields["result"] == {"ok": 1} and done.fields["progress"] == 1.0

    cancelled = lifecycle.cancel("r", 2, S.QUEUED, "user asked")
    assert cancelled.to_status is S.CANCELLED and cancelled.fields["error"] == "user asked"
    assert cancelled.attempt_after == 2


def test_non_retryable_fails_at_once_even_with_attempts_left():
    t = give_up_or_retry("r", 1, 5, "BadPayload: no name", retryable=False)
    assert t.to_status is S.FAILED
    assert t.fields["error"] == "BadPayload: no name"
    assert t.attempt_after == 1
    assert t.fields["finished_at"] == t.at


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_retryable_below_max_requeues_with_backoff(attempt, ceiling):
    before = time.time()
    t = give_up_or_retry(
        "r", attempt, 10, "boom", retryable=True, base_delay_s=0.5, max_delay_s=30.0
    )
    assert t.to_status is S.QUEUED
    assert t.new_attempt == attempt + 1 and t.attempt_after == attempt + 1
    assert t.fields["error"] == "boom"
    assert t.fields["replica"] is None and t.fields["progress"] == 0.0
    delay = t.fields["not_before"] - t.at
    assert ceiling / 2 <= delay <= ceiling
    assert t.fields["not_before"] > before


def test_retry_delay_is_capped():
    t = give_up_or_retry("r", 40, 50, "boom", retryable=True, base_delay_s=1.0, max_delay_s=2.0)
    assert 1.0 <= t.fields["not_before"] - t.at <= 2.0


@pytest.mark.parametrize("attempt", [3, 4])
def test_retryable_at_max_is_dead_with_reason(attempt):
    t = give_up_or_retry("r", attempt, 3, "ConnectionError: reset", retryable=True)
    assert t.to_status is S.DEAD
    assert f"{attempt} attempt" in t.fields["error"]
    assert "ConnectionError: reset" in t.fields["error"]
    assert t.attempt_after == attempt


def test_no_backoff_requeues_immediately():
    before = time.time()
    t = give_up_or_retry("r", 1, 3, "replica lost", retryable=True, backoff=False)
    assert t.to_status is S.QUEUED and t.new_attempt == 2
    assert t.fields["not_before"] == t.at
    assert before <= t.fields["not_before"] <= time.time()


def test_apply_changes_an_in_memory_robot_as_the_store_does():
    robot = Robot(id="r", type="echo")
    started = lifecycle.start("r", 1, "echo", "module:echo:0")
    lifecycle.apply(robot, started)
    assert (robot.status, robot.attempt, robot.module, robot.replica) == (
        S.RUNNING,
        1,
        "echo",
        "module:echo:0",
    )
    assert robot.started_at == started.at == robot.updated_at
    retry = give_up_or_retry("r", 1, 3, "lost", retryable=True, backoff=False)
    lifecycle.apply(robot, retry)
    assert (robot.status, robot.attempt, robot.replica, robot.error) == (S.QUEUED, 2, None, "lost")
    assert robot.not_before == retry.at


def test_apply_refuses_a_transition_the_robot_is_not_at():
    robot = Robot(id="r", type="echo")
    with pytest.raises(ValueError, match="not running"):
        lifecycle.apply(robot, lifecycle.succeed("r", 1, None))
    with pytest.raises(ValueError):
        lifecycle.apply(robot, lifecycle.start("r", 2, "echo", "x"))


def test_terminal_statuses_are_those_without_a_way_out_and_rank_last():
    assert lifecycle.TERMINAL_STATUSES == {s for s, nxt in ALLOWED.items() if not nxt}
    assert all(s.terminal for s in TERMINAL_STATUSES)
    assert not S.QUEUED.terminal and S.DEAD.terminal
    assert [lifecycle.status_rank(s) for s in (S.QUEUED, S.RUNNING, S.DEAD)] == [0, 1, 2]
    for src, dst in ALLOWED_PAIRS:  # every move goes forward, or to a later attempt
        assert lifecycle.status_rank(dst) > lifecycle.status_rank(src) or dst is S.QUEUED
