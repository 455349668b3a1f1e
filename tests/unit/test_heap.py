"""The garbage-collector settings of long-lived actor processes."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from runtime.heap import GcPauses, settle_heap


def test_settle_heap_freezes_start_up_objects_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        settle_heap(young=12_345, old=77)
        assert gc.get_freeze_count() > 0
        young, middle, old = gc.get_threshold()
        assert (young, middle, old) == (12_345, before[1], 77)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_pauses_are_observed_per_generation_until_closed() -> None:
    def collections(generation: str) -> float:
        value = REGISTRY.get_sample_value(
            "robofleet_gc_pause_seconds_count", {"generation": generation}
        )
        return value or 0.0

    before = {g: collections(g) for g in ("0", "2")}
    pauses = GcPauses()
    try:
        gc.collect()
        gc.collect(0)
        assert collections("2") >= before["2"] + 1
        assert collections("0") >= before["0"] + 1
    finally:
        pauses.close()
    after = collections("2")
    gc.collect()
    assert collections("2") == after
