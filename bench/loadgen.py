"""The load a scenario puts on an HTTP endpoint, and the percentile helper of the scenarios.

wrk (:mod:`bench.wrk`) generates the load of every HTTP scenario of ``python -m bench``, in a
process of its own so that its CPU is not the server's event loop: for a duration (submit,
the Ray Serve peer, the HTTP floor) or for a fixed count of accepted robots (end to end,
dispatch, scaling).
"""

from __future__ import annotations

from dataclasses import dataclass

BODY_POOL = 4096  # distinct bodies wrk cycles through


@dataclass
class Load:
    """One load generator run: where, how many connections, how much, with which bodies.

    ``requests`` is for a counted run (:func:`bench.wrk.send`), ``duration_s`` and
    ``warmup_s`` for a timed one (:func:`bench.wrk.run`).
    """

    url: str
    connections: int
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    robot_type: str = "echo"
    seed: int = 7
    headers: dict[str, str] | None = None


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of already sorted values; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))
    return sorted_values[rank]
