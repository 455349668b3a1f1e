"""robofleet's benchmark harness: load generator, scenarios, peers and the results table.

``python -m bench`` (or ``make bench``, ``robofleet bench``) brings robofleet up on free ports,
runs every scenario and writes ``bench/results/<time>.json``, ``latest.json`` and
``latest.md``. Each scenario is one module with an ``async def run(...)``; see
:mod:`bench.runner` for the order they run in and :mod:`bench.sizes` for the knobs.
"""

from bench.runner import main, run_all
from bench.sizes import Sizes

__all__ = ["Sizes", "main", "run_all"]
