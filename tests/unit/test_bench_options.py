"""``python -m bench``'s options: a scale or store it cannot run is refused before any work."""

from __future__ import annotations

import pytest

from bench.runner import build_parser, options_from


@pytest.mark.parametrize("scale", ["-1", "0", "nan", "inf"])
def test_a_scale_that_is_not_above_zero_is_refused(scale: str) -> None:
    with pytest.raises(SystemExit, match="must be a number above 0"):
        options_from(build_parser().parse_args(["--scale", scale]))


@pytest.mark.parametrize("stores", ["bogus", ",", "sqlite,postgres"])
def test_an_unknown_store_is_refused_not_run_as_sqlite(stores: str) -> None:
    with pytest.raises(SystemExit, match="unknown stores"):
        options_from(build_parser().parse_args(["--stores", stores]))


def test_known_stores_and_a_scale_pass() -> None:
    options = options_from(build_parser().parse_args(["--scale", "0.1", "--stores", "sqlite"]))
    assert options.stores == ("sqlite",)
