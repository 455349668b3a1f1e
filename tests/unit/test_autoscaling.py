"""Autoscaling policy with an injected clock: Ray Serve's queue rule, delays, bounds, room,
and the deadline rule that scales up before the queue rule does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.autoscaling import (
    AutoscalingConfig,
    DeadlineBacklog,
    LoadSample,
    ScalingStep,
    Wish,
    deadline_desired,
    decide,
    queue_desired,
)

INTERVAL = 1.0
CONFIG = AutoscalingConfig(
    min_replicas=1,
    max_replicas=4,
    target_ongoing_requests=2,
    upscale_delay_s=3,
    downscale_delay_s=5,
    look_back_period_s=2,
)


class Ticks:
    """A control loop driven by an injected clock: one ``decide`` per ``INTERVAL``."""

    def __init__(self, config: AutoscalingConfig, replicas: int, start: float = 1000.0) -> None:
        self.config = config
        self.replicas = replicas
        self.now = start
        self.samples: list[LoadSample] = []
        self.wish: Wish | None = None
        self.changes: list[tuple[float, int, int]] = []

    def tick(
        self, ongoing: int, backlog: DeadlineBacklog | None = None, room: int | None = None
    ) -> ScalingStep:
        self.samples.append(LoadSample(self.now, ongoing))
        step = decide(self.config, self.replicas, self.samples, backlog, self.now, self.wish, room)
        if step.target != self.replicas:
            self.changes.append((self.now, self.replicas, step.target))
            self.replicas = step.target
        self.wish = step.wish
        self.now += INTERVAL
        return step


def test_knobs_have_ray_serve_defaults_and_bounds():
    config = AutoscalingConfig()
    assert (config.min_replicas, config.max_replicas, config.initial_replicas) == (1, 1, None)
    assert config.target_ongoing_requests == 2
    assert (config.upscale_delay_s, config.downscale_delay_s) == (30, 600)
    assert config.look_back_period_s == 30
    assert config.upscaling_factor is None and config.downscaling_factor is None
    assert AutoscalingConfig(min_replicas=2, max_replicas=5).start_replicas() == 2
    assert AutoscalingConfig(max_replicas=5, initial_replicas=3).start_replicas() == 3


@pytest.mark.parametrize(
    ("knobs", "says"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas (3) is above max_replicas (2)"),
        ({"max_replicas": 4, "initial_replicas": 5}, "initial_replicas (5) is outside"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"target_ongoing_requests": 0}, "target_ongoing_requests"),
        ({"upscale_delay_s": -1}, "upscale_delay_s"),
        ({"look_back_period_s": 0}, "look_back_period_s"),
        ({"upscaling_factor": 0}, "upscaling_factor"),
        ({"min_replicas": 1.5}, "min_replicas"),
        ({"min_replicas": True}, "min_replicas"),
        ({"metrics_interval_s": 10}, "metrics_interval_s"),
    ],
)
def test_bad_knobs_are_refused_with_their_name(knobs, says):
    with pytest.raises(ValidationError) as raised:
        AutoscalingConfig.model_validate(knobs)
    assert says in str(raised.value)


def test_queue_rule_is_ray_serves():
    assert queue_desired(CONFIG, 1, 8) == 4  # 8 ongoing / 2 per replica
    assert queue_desired(CONFIG, 1, 100) == 4  # max_replicas
    assert queue_desired(CONFIG, 2, 4) == 2  # on target
    assert queue_desired(CONFIG, 4, 2) == 1  # 2 ongoing need one replica
    assert queue_desired(CONFIG, 4, 0) == 1  # min_replicas
    half = CONFIG.model_copy(update={"upscaling_factor": 0.5, "downscaling_factor": 0.5})
    assert queue_desired(half, 1, 8) == 3  # ratio 4 smoothed to 2.5
    assert queue_desired(half, 4, 0) == 2  # half way down
    assert queue_desired(half, 2, 0) == 1  # still one less when nothing is ongoing
    zero = CONFIG.model_copy(update={"min_replicas": 0})
    assert queue_desired(zero, 0, 0) == 0
    assert queue_desired(zero, 0, 3) == 1  # from zero: one replica at once


def test_upscale_acts_within_the_delay_plus_one_interval_and_down_after_its_delay():
    ticks = Ticks(CONFIG, replicas=1)
    start = ticks.now
    while ticks.replicas == 1 and ticks.now < start + 20:
        ticks.tick(ongoing=8)
    [(up_at, before, after)] = ticks.changes
    assert (before, after) == (1, 4)
    assert CONFIG.upscale_delay_s <= up_at - start <= CONFIG.upscale_delay_s + INTERVAL
    idle_from = ticks.now
    while ticks.replicas == 4 and ticks.now < idle_from + 30:
        ticks.tick(ongoing=0)
    down_at, before, after = ticks.changes[-1]
    assert (before, after) == (4, 1)
    # The look-back average lags the idle queue by up to look_back_period_s.
    held_from = idle_from + CONFIG.look_back_period_s
    assert CONFIG.downscale_delay_s <= down_at - idle_from
    assert down_at - held_from <= CONFIG.downscale_delay_s + INTERVAL


def test_a_blip_shorter_than_the_delay_changes_nothing():
    ticks = Ticks(CONFIG, replicas=1)
    for ongoing in (8, 0, 0, 0, 0, 8, 0, 0, 0, 0):  # each held under 3 s by the average
        ticks.tick(ongoing)
    assert ticks.changes == []


def test_upscale_is_bounded_by_the_room_the_cluster_has():
    ticks = Ticks(CONFIG, replicas=1)
    steps = [ticks.tick(ongoing=8, room=1) for _ in range(5)]
    assert ticks.changes[-1][1:] == (1, 2)
    assert steps[-1].desired == 4  # the wish is still shown
    assert "room for 1 more" in steps[-1].reason
    full = Ticks(CONFIG, replicas=2)
    assert all(full.tick(ongoing=8, room=0).target == 2 for _ in range(6))
    assert full.changes == []


def _backlog(count: int, deadline: float | None, run_seconds: float = 2.0) -> DeadlineBacklog:
    """``count`` queued robots behind 4 running ones, all due at ``deadline``."""
    deadlines = [(i, deadline) for i in range(count)] if deadline is not None else []
    return DeadlineBacklog(in_flight=4, deadlines=deadlines, run_seconds=run_seconds, slots=4)


def test_deadline_rule_counts_waves_of_slots():
    now = 0.0
    # 4 running + 12 queued on 4 slots a replica, 2 s a robot, due in 4 s: two waves of
    # n*4 slots must hold 16 robots, so n = 2.
    assert deadline_desired(CONFIG, _backlog(12, now + 4), now, 1) == (2, 8)
    # Due in 2.5 s: one wave, all 16 at once: 4 replicas.
    assert deadline_desired(CONFIG, _backlog(12, now + 2.5), now, 1)[0] == 4
    # Due in 1 s: shorter than one run, no replica count saves them.
    assert deadline_desired(CONFIG, _backlog(12, now + 1), now, 1) is None
    # Nothing measured yet: no rule.
    assert deadline_desired(CONFIG, _backlog(12, now + 4, run_seconds=0), now, 1) is None


def test_deadline_backlog_scales_up_before_the_same_backlog_without_deadlines():
    """Same queue, same clock: the deadline-carrying one acts on its first tick, the plain
    one after upscale_delay_s."""
    plain, due = Ticks(CONFIG, replicas=1), Ticks(CONFIG, replicas=1)
    start = plain.now
    for _ in range(6):
        # 4 running + 4 queued: ongoing 8, the queue rule wants 4 replicas after its delay.
        plain.tick(ongoing=8, backlog=_backlog(4, None))
        due.tick(ongoing=8, backlog=_backlog(4, due.now + 2.5))
    assert plain.changes[0][0] - start >= CONFIG.upscale_delay_s
    assert due.changes[0] == (start, 1, 2)  # 8 robots due in one run's time: 2 replicas now
    assert due.changes[0][0] < plain.changes[0][0]
    assert due.changes[1] == (plain.changes[0][0], 2, 4)  # the queue rule's own, as usual


def test_deadline_rule_scales_up_where_the_queue_rule_would_not():
    # A lenient target: 8 ongoing per replica is fine by the queue rule.
    lenient = CONFIG.model_copy(update={"target_ongoing_requests": 16})
    ticks = Ticks(lenient, replicas=1)
    steps = [ticks.tick(ongoing=8, backlog=_backlog(4, ticks.now + 2.5)) for _ in range(3)]
    assert ticks.changes[0][1:] == (1, 2)
    assert "would miss their deadlines" in steps[0].reason
    off = Ticks(lenient.model_copy(update={"deadline_aware": False}), replicas=1)
    for _ in range(6):
        off.tick(ongoing=8, backlog=_backlog(4, off.now + 2.5))
    assert off.changes == []
