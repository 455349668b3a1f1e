import random

import pytest

from runtime.backoff import backoff_delay


class Upper(random.Random):
    def uniform(self, a, b):
        return b


class Lower(random.Random):
    def uniform(self, a, b):
        return a


def test_ceiling_doubles_per_attempt_until_capped():
    ceilings = [backoff_delay(n, 0.5, 30.0, rng=Upper()) for n in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_floor_is_half_the_ceiling():
    floors = [backoff_delay(n, 0.5, 30.0, rng=Lower()) for n in range(1, 10)]
    assert floors == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


@pytest.mark.parametrize("attempt", range(1, 12))
def test_delay_within_equal_jitter_bounds(attempt):
    rng = random.Random(attempt)
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, 0.5, 30.0, rng=rng) for _ in range(300)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jittered, not constant


def test_delays_grow_on_average():
    rng = random.Random(42)
    means = [
        sum(backoff_delay(n, 0.5, 1_000.0, rng=rng) for _ in range(200)) / 200 for n in range(1, 8)
    ]
    for earlier, later in zip(means, means[1:], strict=False):
        assert later == pytest.approx(2 * earlier, rel=0.15)


def test_never_exceeds_cap_at_max_attempts():
    rng = random.Random(0)
    assert all(0.5 <= backoff_delay(50, 0.5, 1.0, rng=rng) <= 1.0 for _ in range(100))


def test_a_spread_either_side_doubles_up_to_the_cap_like_a_redis_reconnect():
    # RedisLink's schedule: 0.2 s doubling up to 5 s, each wait within +-20 %
    upper = [backoff_delay(n, 0.2, 5.0, rng=Upper(), spread=(0.8, 1.2)) for n in range(1, 8)]
    lower = [backoff_delay(n, 0.2, 5.0, rng=Lower(), spread=(0.8, 1.2)) for n in range(1, 8)]
    ceilings = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert upper == pytest.approx([1.2 * c for c in ceilings])
    assert lower == pytest.approx([0.8 * c for c in ceilings])
    assert backoff_delay(9, 2.0, 2.0, spread=(1.0, 1.0)) == 2.0  # no jitter: a fixed wait


@pytest.mark.parametrize("attempt", [1_100, 10**6])
def test_a_long_run_of_failures_stays_at_the_cap(attempt):
    # 0.5 * 2**1099 does not fit a float: the count of an endless outage must not raise
    assert backoff_delay(attempt, 0.5, 30.0, rng=Upper()) == 30.0
    assert backoff_delay(attempt, 0.5, 30.0, rng=Lower()) == 15.0


@pytest.mark.parametrize("attempt", [0, -3])
def test_attempt_below_one_uses_base(attempt):
    assert backoff_delay(attempt, 0.5, 30.0, rng=Upper()) == 0.5


def test_default_rng_within_bounds():
    assert all(1.0 <= backoff_delay(2, 1.0, 30.0) <= 2.0 for _ in range(100))
