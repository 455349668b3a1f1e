"""The garbage-collector settings of long-lived actor processes."""

from __future__ import annotations

import gc

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


def test_pauses_are_counted_per_generation_and_reset() -> None:
    pauses = GcPauses()
    try:
        gc.collect()
        gc.collect(0)
        summary = pauses.summary(reset=True)
        assert summary["2"]["collections"] >= 1
        assert summary["0"]["collections"] >= 1
        assert summary["2"]["max_ms"] <= summary["2"]["total_ms"]
        assert pauses.summary() == {}
    finally:
        pauses.close()
    gc.collect()
    assert pauses.summary() == {}
