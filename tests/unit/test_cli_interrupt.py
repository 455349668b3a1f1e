"""Ctrl-C stops a robofleet command even if it was started with SIGINT ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_command_started_with_sigint_ignored_still_stops_on_sigint(tmp_path: Path) -> None:
    # A shell's background job starts with SIGINT ignored, and Python keeps that; the
    # command must stop on SIGINT anyway, as `robofleet up` says it does.
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "import cluster.cli\n"
        "cluster.cli.build_parser = lambda: _Parser()\n"
        "class _Parser:\n"
        "    def parse_args(self, argv):\n"
        "        class A:\n"
        "            @staticmethod\n"
        "            def func(_):\n"
        "                try:  # a SIGINT right after the print lands in here too\n"
        "                    print('waiting', flush=True)\n"
        "                    time.sleep(30)\n"
        "                except KeyboardInterrupt:\n"
        "                    print('interrupted', flush=True)\n"
        "                return 0\n"
        "        return A()\n"
        "sys.exit(cluster.cli.main([]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", child], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "waiting"
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)  # ignored, it would sleep out its 30 s
    assert "interrupted" in out and process.returncode == 0
