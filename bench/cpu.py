"""CPU time per answered request, by process role, over one measured load run.

Latency on a shared 2-core machine moves with whatever else the host runs; CPU time per
request moves much less, and says where the work is: the gateway, the orchestrator, the
store, the load generator. :class:`CpuMeter` reads every process's user and system time from
``/proc`` before and after a run and groups processes by what their command line says they
are. The load generator is this process's child, so its share comes from the children's
resource usage once it has been waited for.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

# Command-line markers of each role, first match wins.
ROLES: tuple[tuple[str, str], ...] = (
    ("ray::GatewayHost", "gateway"),
    ("ray::Orchestrator", "orchestrator"),
    ("ray::CacheActor", "cache"),
    ("ray::ReplicaActor", "replicas"),
    ("ray::ServeReplica", "serve replicas"),
    ("ray::ProxyActor", "serve proxy"),
    ("ray::HAProxyManager", "serve proxy"),  # Serve's HAProxy mode: the actor that runs it
    ("bin/haproxy", "serve haproxy"),
    ("ray::ServeController", "serve controller"),
    ("ray::WaveHost", "shape host"),
    ("ray::WaveAnswerer", "shape answerer"),
    ("bench.http_floor", "floor server"),
    ("postgres: ", "postgresql"),  # backends and workers: "postgres: 15/main: ..."
    ("bin/postgres", "postgresql"),
    ("raylet", "ray system"),
    ("gcs_server", "ray system"),
    ("ray::", "other actors"),
)
_PROC = Path("/proc")


def _role(cmdline: str) -> str | None:
    return next((role for marker, role in ROLES if marker in cmdline), None)


def _snapshot() -> dict[int, tuple[str, float]]:
    """Per process with a role: its role and its CPU seconds so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        role = _role(cmdline or stat)
        if role is None:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = (role, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds spent by each role between :meth:`start` and :meth:`stop`."""

    def __init__(self, generator_role: str = "load generator") -> None:
        self.generator_role = generator_role
        self._before: dict[int, tuple[str, float]] = {}
        self._children = 0.0
        self.seconds: dict[str, float] = {}

    def available(self) -> bool:
        """Whether this machine has a ``/proc`` to read."""
        return (_PROC / "self" / "stat").exists()

    def start(self) -> None:
        """Take the first reading."""
        if self.available():
            self._before = _snapshot()
            self._children = _children_seconds()

    def stop(self) -> None:
        """Take the second reading; :attr:`seconds` holds the difference by role."""
        if not self.available():
            return
        seconds: dict[str, float] = {}
        for pid, (role, after) in _snapshot().items():
            before = self._before[pid][1] if pid in self._before else 0.0  # new: all of it
            seconds[role] = seconds.get(role, 0.0) + max(0.0, after - before)
        seconds[self.generator_role] = _children_seconds() - self._children
        self.seconds = {role: s for role, s in seconds.items() if s > 0}

    def per_request_us(self, answered: int) -> dict[str, Any]:
        """Microseconds of CPU per answered request by role, plus their total."""
        if not self.seconds or answered <= 0:
            return {}
        out = {role: round(s / answered * 1e6, 1) for role, s in sorted(self.seconds.items())}
        out["total"] = round(sum(self.seconds.values()) / answered * 1e6, 1)
        return out
