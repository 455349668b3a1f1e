"""Property: the queue order stays a total order whatever is submitted.

Hypothesis sends submits with any priority and deadline a client could write (NaN and
infinities, as numbers or text, huge and negative numbers, None); those the gateway's model
accepts go into a :class:`RobotQueue`, next to rows as an older store might hold them
(deadlines and creation times that are not finite). Every robot pushed comes out once, and
in an order consistent with priority, then deadline, then age.
"""

from __future__ import annotations

import math
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import runtime.queue
from runtime.models import RobotRequest
from runtime.queue import RobotQueue, order_key

ANY_NUMBER = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(["NaN", "nan", "inf", "-Infinity", "1e999", "5", "-0"]),
)
SUBMIT = st.fixed_dictionaries(
    {"type": st.just("echo"), "priority": st.one_of(st.integers(-3, 12), ANY_NUMBER)},
    optional={"deadline": ANY_NUMBER},
)
STORED_ROW = st.tuples(
    st.integers(0, 9),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.floats(allow_nan=True, allow_infinity=True),
)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(runtime.queue, "time", types.SimpleNamespace(time=lambda: 1_000.0))


def _expected(priority: int, deadline: float | None, created_at: float, seq: int) -> tuple:
    """The documented order, written out: 9 first; earliest deadline, none (or not a
    number) last; oldest first (a creation time that is not finite counts as 0)."""
    finite_deadline = deadline if deadline is not None and math.isfinite(deadline) else math.inf
    age = created_at if math.isfinite(created_at) else 0.0
    return (-priority, finite_deadline, age, seq)


@settings(max_examples=300, deadline=None, database=None)
@given(
    submits=st.lists(SUBMIT, max_size=40),
    rows=st.lists(STORED_ROW, max_size=20),
    created=st.lists(st.floats(0, 2e9), min_size=60, max_size=60),
)
def test_queue_order_is_a_total_order_whatever_is_submitted(submits, rows, created):
    queue = RobotQueue()
    pushed: dict[str, tuple] = {}
    for n, submit in enumerate(submits):
        try:
            request = RobotRequest.model_validate(submit)
        except ValidationError:
            continue
        assert request.deadline is None or math.isfinite(request.deadline)
        robot_id = f"s{n}"
        queue.push(robot_id, 1, request.priority, request.deadline, created[n])
        pushed[robot_id] = _expected(request.priority, request.deadline, created[n], len(pushed))
    for n, (priority, deadline, created_at) in enumerate(rows):
        robot_id = f"r{n}"
        queue.push(robot_id, 1, priority, deadline, created_at)
        pushed[robot_id] = _expected(priority, deadline, created_at, len(pushed))

    popped = []
    while (item := queue.pop()) is not None:
        popped.append(item[0])
    assert sorted(popped) == sorted(pushed), "every robot comes out exactly once"
    assert popped == sorted(pushed, key=pushed.__getitem__)


@settings(max_examples=300, deadline=None, database=None)
@given(keys=st.lists(STORED_ROW, min_size=2, max_size=12))
def test_order_keys_compare_as_a_strict_total_order(keys):
    made = [order_key(p, d, c, seq) for seq, (p, d, c) in enumerate(keys)]
    for a in made:
        for b in made:
            assert (a < b) + (b < a) + (a == b) == 1  # exactly one: trichotomy
            for c in made:
                if a < b and b < c:
                    assert a < c  # transitivity


@settings(max_examples=200, deadline=None, database=None)
@given(
    rows=st.lists(STORED_ROW, max_size=60),
    gone=st.sets(st.integers(0, 59), max_size=20),
    retried=st.sets(st.integers(0, 59), max_size=10),
    n=st.integers(0, 70),
)
def test_first_keys_are_the_n_most_urgent_live_robots_in_pop_order(rows, gone, retried, n):
    queue = RobotQueue()
    pushed: list[str] = []  # robot id by the seq of its key
    for i, (priority, deadline, created_at) in enumerate(rows):
        queue.push(f"r{i}", 1, priority, deadline, created_at)
        pushed.append(f"r{i}")
    for i in sorted(retried & set(range(len(rows)))):  # the attempt-1 entry goes stale
        queue.push(f"r{i}", 2, 9 - i % 10, None, float(i))
        pushed.append(f"r{i}")
    for i in gone:  # discarded: stale too
        queue.discard(f"r{i}")
    first = queue.first_keys(n)
    popped = []
    while (item := queue.pop()) is not None:
        popped.append(item[0])
    assert first == sorted(first)
    assert [pushed[key[3]] for key in first] == popped[:n]
