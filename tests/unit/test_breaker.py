from runtime.breaker import BreakerState, CircuitBreaker

T0 = 1_000.0


def feed(breaker: CircuitBreaker, outcomes: str, now: float = T0) -> None:
    """Feed 'S' (success) and 'F' (failure) outcomes at time ``now``."""
    for outcome in outcomes:
        breaker.record(outcome == "S", now=now)


def open_breaker(reset_after_s: float = 10.0) -> CircuitBreaker:
    cb = CircuitBreaker(consecutive_failures=3, min_calls=100, reset_after_s=reset_after_s)
    feed(cb, "FFF")
    assert cb.state(now=T0) is BreakerState.OPEN
    return cb


def test_new_breaker_is_closed_and_allows():
    cb = CircuitBreaker()
    assert cb.state(now=T0) is BreakerState.CLOSED
    assert cb.allows(now=T0)


def test_opens_after_n_consecutive_failures():
    cb = CircuitBreaker(consecutive_failures=3, min_calls=100)
    feed(cb, "FF")
    assert cb.state(now=T0) is BreakerState.CLOSED and cb.allows(now=T0)
    feed(cb, "F")
    assert cb.state(now=T0) is BreakerState.OPEN
    assert not cb.allows(now=T0)


def test_success_resets_the_consecutive_count():
    cb = CircuitBreaker(consecutive_failures=3, min_calls=100)
    feed(cb, "FFSFFSFF")
    assert cb.state(now=T0) is BreakerState.CLOSED


def test_opens_on_error_rate_once_min_calls_reached():
    cb = CircuitBreaker(consecutive_failures=100, error_rate=0.5, window=10, min_calls=10)
    feed(cb, "SFSFSFSFF")  # 5 failures in 9 calls: above the rate but under min_calls
    assert cb.state(now=T0) is BreakerState.CLOSED
    feed(cb, "F")  # 10 calls, 6 failures
    assert cb.state(now=T0) is BreakerState.OPEN


def test_opens_at_exactly_the_error_rate():
    cb = CircuitBreaker(consecutive_failures=100, error_rate=0.5, window=10, min_calls=10)
    feed(cb, "SFSFSFSFS")
    assert cb.state(now=T0) is BreakerState.CLOSED
    feed(cb, "F")  # 10 calls, 5 failures: rate 0.5
    assert cb.state(now=T0) is BreakerState.OPEN


def test_stays_closed_below_error_rate():
    cb = CircuitBreaker(consecutive_failures=100, error_rate=0.5, window=10, min_calls=10)
    feed(cb, "SFSFSFSFSS" * 3)  # 4 failures in every 10
    assert cb.state(now=T0) is BreakerState.CLOSED
    assert cb.allows(now=T0)


def test_error_rate_only_counts_the_window():
    cb = CircuitBreaker(consecutive_failures=100, error_rate=0.5, window=10, min_calls=10)
    feed(cb, "FFFF" + "S" * 10)  # old failures slid out of the window
    feed(cb, "FFFF")  # 4 of the last 10
    assert cb.state(now=T0) is BreakerState.CLOSED


def test_open_breaker_half_opens_after_reset():
    cb = open_breaker(reset_after_s=10.0)
    assert cb.state(now=T0 + 9.9) is BreakerState.OPEN
    assert not cb.allows(now=T0 + 9.9)
    assert cb.state(now=T0 + 10.0) is BreakerState.HALF_OPEN


def test_half_open_allows_exactly_one_trial():
    cb = open_breaker()
    now = T0 + 10.0
    assert cb.allows(now=now)
    cb.on_dispatch(now=now)
    assert not cb.allows(now=now)
    assert not cb.allows(now=now + 1.0)
    assert cb.state(now=now + 1.0) is BreakerState.HALF_OPEN


def test_dispatch_while_closed_does_not_limit():
    cb = CircuitBreaker()
    for _ in range(5):
        cb.on_dispatch(now=T0)
        assert cb.allows(now=T0)


def test_half_open_trial_success_closes():
    cb = open_breaker()
    now = T0 + 10.0
    cb.on_dispatch(now=now)
    cb.record(True, now=now + 1.0)
    assert cb.state(now=now + 1.0) is BreakerState.CLOSED
    assert cb.allows(now=now + 1.0)
    # failures before the trial are forgotten: it takes a full run of failures again
    feed(cb, "FF", now=now + 2.0)
    assert cb.state(now=now + 2.0) is BreakerState.CLOSED


def test_half_open_trial_failure_reopens_for_another_cool_down():
    cb = open_breaker(reset_after_s=10.0)
    now = T0 + 10.0
    cb.on_dispatch(now=now)
    cb.record(False, now=now + 1.0)
    assert cb.state(now=now + 1.0) is BreakerState.OPEN
    assert not cb.allows(now=now + 5.0)
    assert cb.state(now=now + 11.0) is BreakerState.HALF_OPEN
    assert cb.allows(now=now + 11.0)


def test_release_counts_nothing_while_closed():
    cb = CircuitBreaker(consecutive_failures=2, min_calls=100)
    for _ in range(50):  # a replica crash hands back many robots at once
        cb.release(now=T0)
    assert cb.state(now=T0) is BreakerState.CLOSED and cb.allows(now=T0)
    feed(cb, "F")
    cb.release(now=T0)
    feed(cb, "F")  # a release does not reset the run of failures either
    assert cb.state(now=T0) is BreakerState.OPEN


def test_a_released_trial_lets_the_next_robot_be_the_trial():
    cb = open_breaker(reset_after_s=5.0)
    cb.on_dispatch(now=T0 + 5)
    assert not cb.allows(now=T0 + 5)  # the trial is out
    cb.release(now=T0 + 6)  # its replica died: no verdict on the module
    assert cb.state(now=T0 + 6) is BreakerState.HALF_OPEN and cb.allows(now=T0 + 6)
    cb.on_dispatch(now=T0 + 6)
    feed(cb, "S", now=T0 + 7)
    assert cb.state(now=T0 + 7) is BreakerState.CLOSED


def test_release_does_not_shorten_an_open_cool_down():
    cb = open_breaker(reset_after_s=5.0)
    cb.release(now=T0 + 1)
    assert cb.state(now=T0 + 1) is BreakerState.OPEN and not cb.allows(now=T0 + 1)
