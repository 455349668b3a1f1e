"""ray-cluster.yaml passes the Ray cluster launcher's own validation."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


def test_cluster_launcher_accepts_the_config():
    config = yaml.safe_load(CONFIG.read_text())
    # What `ray up` does: merge the provider's defaults, then check the launcher's schema.
    prepared = prepare_config(config)
    validate_config(prepared)
    assert prepared["provider"]["type"] == "local"
    head = " ".join(prepared["head_start_ray_commands"])
    worker = " ".join(prepared["worker_start_ray_commands"])
    assert "robofleet up" in head and "robofleet join" in worker
