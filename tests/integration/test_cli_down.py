"""``robofleet down`` when nothing runs: a quick, plain answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_down_with_no_cluster_says_so_instead_of_waiting(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "down", "--data-dir", str(tmp_path)],
        env={**os.environ, "ROBOFLEET_RAY_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,  # Ray alone would keep retrying an absent head for minutes
    )
    assert done.returncode == 0
    assert f"no robofleet cluster answered at 127.0.0.1:{port}" in done.stdout
