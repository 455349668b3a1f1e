"""Placement: only nodes with the resources, spread, nothing on dead or draining nodes."""

from __future__ import annotations

from runtime.placement import NodeView, choose_node, demand_of, eligible

HEAD = NodeView("head", True, {"CPU": 2})
A = NodeView("a", True, {"CPU": 1, "pool": 1})
B = NodeView("b", True, {"CPU": 1, "pool": 1, "ocr": 1})


def test_demand_uses_ray_resource_names():
    assert demand_of({"num_cpus": 1, "ocr": 0.5, "num_gpus": 0}) == {"CPU": 1.0, "ocr": 0.5}


def test_custom_resource_only_on_nodes_that_have_it():
    for counts in ({}, {"b": 5}):
        assert choose_node([HEAD, A, B], {"ocr": 1}, counts) == "b"


def test_replicas_spread_over_eligible_nodes():
    counts: dict[str, int] = {}
    for _ in range(6):
        node = choose_node([HEAD, A, B], {}, counts)
        counts[node] = counts.get(node, 0) + 1
    assert counts == {"head": 2, "a": 2, "b": 2}


def test_dead_and_draining_nodes_are_not_eligible():
    dead_b = NodeView("b", False, B.resources)
    draining_a = NodeView("a", True, A.resources, draining=True)
    assert not eligible(dead_b, {})
    assert not eligible(draining_a, {})
    assert choose_node([draining_a, dead_b], {"pool": 1}, {}) is None
    assert choose_node([HEAD, draining_a, dead_b], {}, {}) == "head"


def test_resource_amount_must_fit():
    assert choose_node([A, B], {"CPU": 2}, {}) is None
    assert choose_node([HEAD, A], {"CPU": 2}, {}) == "head"
