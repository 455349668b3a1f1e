"""The machine a run measured: cores, memory, CPU model, Python and library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("ray", "aiohttp", "asyncpg", "orjson", "celery", "dramatiq", "arq", "redis")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    try:
        # Results this run writes (and earlier runs left) are not changes to what was measured.
        changed = git("status", "--short", "--", ".", ":(exclude)bench/results")
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(changed)}
    except OSError:
        return {}


def describe() -> dict[str, Any]:
    """Everything about this machine and checkout that a figure depends on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "memory_gib": _meminfo_gib(),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in LIBRARIES},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "git": _git(),
    }
