"""What explaining a routing decision costs per robot: ``python -m bench.routing_cost``.

Times, on one core, the dispatch loop's per-robot routing work for a type served by two
modules of four replicas: the policy with its record (``place``, which the orchestrator
calls once per robot) and the record's compact JSON (what the store writes with the start
transition). Prints microseconds per robot and bytes per record. Compare with the policy
before records (``git show 6a9531e:runtime/routing.py``) by timing its ``choose_module`` and
``pick_replica`` the same way.
"""

from __future__ import annotations

import random
import timeit

from runtime.models import HealthState
from runtime.route_record import decision_json
from runtime.routing import ModuleLoad, ReplicaLoad, place


def fleet() -> list[ModuleLoad]:
    """Two modules of four replicas with eight slots each, partly busy."""
    return [
        ModuleLoad(
            name,
            performance,
            HealthState.HEALTHY,
            [ReplicaLoad(f"module:{name}:{i}", i, 8) for i in range(4)],
        )
        for name, performance in (("primary", 0.91), ("secondary", 0.74))
    ]


def main(number: int = 50_000) -> None:
    """Print the per-robot figures."""
    modules, rng = fleet(), random.Random(0)

    def explained() -> None:
        place(modules, rng)

    _, _, decision = place(modules, rng)
    figures = {
        "place (with its decision)": min(timeit.repeat(explained, number=number, repeat=3)),
        "decision_json": min(
            timeit.repeat(lambda: decision_json(decision), number=number, repeat=3)
        ),
    }
    for what, seconds in figures.items():
        print(f"{what:<30} {seconds / number * 1e6:6.2f} µs per robot")
    print(f"{'stored decision':<30} {len(decision_json(decision)):6d} bytes")


if __name__ == "__main__":
    main()
