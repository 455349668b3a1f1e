"""What a ``robofleet up`` started, recorded in its data dir so that another command can find it.

``robofleet up`` writes ``robofleet-up.json`` in its data dir as soon as it has started
something: its own process, and the Ray head it launched (the ``ray start --block`` process,
the Ray processes under it, the head's session, temp dir and ports). ``robofleet down`` and a
later ``robofleet up`` read it to stop exactly those processes, and nothing else.

A pid alone names nothing for long: the OS hands it to the next process once the first one
exits. A recorded process is trusted only while the pid still names a process with the recorded
start time and command line (:meth:`ProcessIdentity.find`); psutil reads both the same way on
Linux and macOS, and its ``terminate``/``kill`` refuse a pid that was reused in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

RECORD_NAME = "robofleet-up.json"
"""File name of the record, inside the data dir of the ``robofleet up`` it describes."""

TEMP_DIR_PREFIX = "robofleet-ray-"
"""Prefix of the temp dir of a Ray head ``robofleet up`` launches."""

_SAME_START_S = 0.01  # start times are read from the same clock ticks: equal up to rounding


@dataclass(frozen=True)
class ProcessIdentity:
    """One process as recorded: its pid, its start time (seconds since the epoch, as the OS
    reports it) and its command line."""

    pid: int
    started_at: float
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of the live process ``pid``; raises ``psutil.NoSuchProcess`` if gone."""
        process = psutil.Process(pid)
        with process.oneshot():
            return cls(pid, process.create_time(), tuple(process.cmdline()))

    def find(self, by_cmdline: bool = True) -> psutil.Process | None:
        """The live process this identity names; None once it has exited (or is a zombie),
        or when its pid now names another process.

        ``by_cmdline=False`` trusts pid and start time alone, for processes that retitle
        themselves (Ray's workers and agents do): a reused pid has a later start time.
        """
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                if process.status() == psutil.STATUS_ZOMBIE:
                    return None
                started_at = process.create_time()
                cmdline = tuple(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        if abs(started_at - self.started_at) > _SAME_START_S:
            return None
        if by_cmdline and cmdline != self.cmdline:
            return None
        return process

    def pid_reused(self) -> bool:
        """True when the pid names a live process that is not this one."""
        return self.find() is None and psutil.pid_exists(self.pid)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the identity."""
        return {"pid": self.pid, "started_at": self.started_at, "cmdline": list(self.cmdline)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ProcessIdentity:
        """The identity :meth:`to_json` wrote; raises ``KeyError``/``TypeError``/``ValueError``."""
        return cls(int(value["pid"]), float(value["started_at"]), tuple(map(str, value["cmdline"])))


@dataclass(frozen=True)
class HeadRecord:
    """The Ray head a ``robofleet up`` launched.

    ``launcher`` is the ``ray start --head --block`` process; ``processes`` are the Ray
    processes that were under it once it had started (GCS, raylet, dashboard, ...).
    ``address`` is the GCS address (``HOST:PORT``), ``session`` the Ray session name (None
    until the head has started), ``ports`` the ports it was told to use, by role.
    """

    launcher: ProcessIdentity
    address: str
    temp_dir: str
    ports: dict[str, int]
    session: str | None = None
    processes: tuple[ProcessIdentity, ...] = ()

    def live(self) -> list[psutil.Process]:
        """The recorded processes of this head that still run (pid reuse is not theirs)."""
        found = [self.launcher.find()]
        found += [identity.find(by_cmdline=False) for identity in self.processes]
        return [process for process in found if process is not None]

    def describe(self) -> str:
        """One line naming the head: pid, GCS address, session."""
        session = f", session {self.session}" if self.session else ""
        return f"Ray head pid {self.launcher.pid} (GCS {self.address}{session})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        value = asdict(self)
        value["launcher"] = self.launcher.to_json()
        value["processes"] = [p.to_json() for p in self.processes]
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> HeadRecord:
        """The record :meth:`to_json` wrote."""
        return cls(
            launcher=ProcessIdentity.from_json(value["launcher"]),
            address=str(value["address"]),
            temp_dir=str(value["temp_dir"]),
            ports={str(k): int(v) for k, v in value["ports"].items()},
            session=None if value.get("session") is None else str(value["session"]),
            processes=tuple(ProcessIdentity.from_json(p) for p in value.get("processes", ())),
        )


@dataclass(frozen=True)
class UpRecord:
    """A ``robofleet up``: its own process, its gateway port and the Ray head it launched
    (None when it joined a cluster with ``--address``)."""

    up: ProcessIdentity
    gateway_port: int
    head: HeadRecord | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return {
            "up": self.up.to_json(),
            "gateway_port": self.gateway_port,
            "head": None if self.head is None else self.head.to_json(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> UpRecord:
        """The record :meth:`to_json` wrote."""
        head = value.get("head")
        return cls(
            up=ProcessIdentity.from_json(value["up"]),
            gateway_port=int(value["gateway_port"]),
            head=None if head is None else HeadRecord.from_json(head),
        )


def record_path(data_dir: Path) -> Path:
    """Where the record of the ``robofleet up`` of ``data_dir`` lives."""
    return data_dir.expanduser() / RECORD_NAME


def write(data_dir: Path, record: UpRecord) -> None:
    """Write the record atomically (a reader sees the old one or the new one, never half)."""
    path = record_path(data_dir)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record.to_json(), indent=2))
    os.replace(partial, path)


def read(data_dir: Path) -> UpRecord | None:
    """The record in ``data_dir``; None when there is none or it cannot be read (a record
    nobody can parse names no process anyone may signal)."""
    try:
        return UpRecord.from_json(json.loads(record_path(data_dir).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def clear(data_dir: Path, record: UpRecord | None = None) -> None:
    """Remove the record; with ``record``, only if the file still holds that one."""
    path = record_path(data_dir)
    if record is not None and read(data_dir) != record:
        return
    path.unlink(missing_ok=True)


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited; return those still running after ``timeout_s``.

    A process that exited but whose parent (not this process) has not reaped it yet is a
    zombie: it counts as gone.
    """
    deadline = time.monotonic() + timeout_s
    alive = [p for p in processes if _running(p)]
    while alive and time.monotonic() < deadline:
        _, waiting = psutil.wait_procs(alive, timeout=0.2)  # reaps those that are our children
        alive = [p for p in waiting if _running(p)]
    return alive


def stop_processes(processes: list[psutil.Process], timeout_s: float) -> None:
    """SIGTERM each process, wait up to ``timeout_s`` for all, then SIGKILL the rest."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.terminate()
    alive = _wait_gone(processes, timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.kill()
    _wait_gone(alive, 5)


def stop_head(head: HeadRecord, timeout_s: float = 30.0) -> list[int]:
    """Stop exactly the recorded processes of ``head`` that still run; return their pids.

    The launcher goes first (on SIGTERM ``ray start --block`` stops the Ray processes it
    started); whatever recorded process outlives it is stopped next. Then the head's temp
    dir is removed. Processes of any other Ray cluster are never touched.
    """
    live = head.live()
    pids = [process.pid for process in live]
    launcher = head.launcher.find()
    if launcher is not None:
        stop_processes([launcher], timeout_s)
    rest = head.live()
    if rest:
        stop_processes(rest, timeout_s)
    if Path(head.temp_dir).name.startswith(TEMP_DIR_PREFIX):  # only a dir robofleet made
        shutil.rmtree(head.temp_dir, ignore_errors=True)
    return pids
