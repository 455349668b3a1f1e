"""Exponential backoff with jitter: robot retries, an IMAP watch's and a Redis link's reconnects.

A retry here is a robot put back in its queue with a ``not_before`` time, not a loop
around a call, so call-wrapping retry libraries (tenacity, backoff) do not fit; this is
the one formula they would have supplied.
"""

from __future__ import annotations

import random

NO_JITTER = (1.0, 1.0)
"""A ``spread`` that waits exactly the ceiling: a fixed doubling schedule."""


def backoff_delay(
    attempt: int,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: random.Random | None = None,
    spread: tuple[float, float] = (0.5, 1.0),
) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    Uniform in ``[lo * c, hi * c]`` with ``c = min(cap, base * 2^(attempt-1))`` and
    ``(lo, hi) = spread``: by default equal jitter, ``[c/2, c]``; ``(1 - j, 1 + j)``
    spreads each wait by a fraction ``j`` either side (``(1, 1)``: no jitter).
    """
    # Past 64 doublings any base is past any cap; a larger power would not fit a float
    # (an IMAP watch counts its failures without bound).
    doublings = min(max(0, attempt - 1), 64)
    ceiling = min(cap_s, base_s * 2**doublings)
    low, high = spread
    return (rng or random).uniform(ceiling * low, ceiling * high)
