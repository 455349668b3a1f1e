"""py-spy profiles of robofleet's actors while a scenario runs, with a text summary.

``py-spy record`` attaches to the orchestrator, the gateway and the no-op replicas by PID
(found through Ray's actor table) and writes a speedscope file per actor under
``bench/results/profiles/<run>/``; open it at https://www.speedscope.app. The summary
``<actor>.txt`` gives each thread's busy seconds and the functions it spent them in.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROFILED_PREFIXES = ("orchestrator", "gateway:", "module:echo:")


def py_spy_binary() -> str | None:
    """The py-spy executable next to this Python, else on PATH."""
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def actor_pids(namespace: str) -> dict[str, int]:
    """PIDs of robofleet's orchestrator, gateway and echo replicas, by actor name."""
    import ray

    pids: dict[str, int] = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"]
        if actor.get("namespace") != namespace or not name.startswith(PROFILED_PREFIXES):
            continue
        handle = ray.get_actor(name, namespace=namespace)
        pid = _pid_of(handle)
        if pid:
            pids[name] = pid
    return pids


def _pid_of(handle: Any) -> int | None:
    actor_id = handle._actor_id.hex()
    try:
        from ray._private import state

        info = state.actors(actor_id=actor_id)
        return int(info["Pid"]) or None
    except Exception:
        log.debug("actor table lookup failed, trying the state API", exc_info=True)
    try:
        from ray.util.state import get_actor

        info = get_actor(actor_id)
        return int(info.pid) if info is not None else None
    except Exception:
        return None


class Profiler:
    """One ``py-spy record`` per actor from :meth:`start` until :meth:`stop`."""

    def __init__(self, out_dir: Path, rate: int = 100) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.records: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, pids: dict[str, int]) -> None:
        """Attach py-spy to each PID (non-blocking sampling, so the actors keep their pace)."""
        binary = py_spy_binary()
        if binary is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            stem = name.replace(":", "_").replace(".", "-")
            output = self.out_dir / f"{stem}.speedscope.json"
            command = [
                binary, "record", "--pid", str(pid), "--rate", str(self.rate),
                "--format", "speedscope", "--output", str(output), "--nonblocking",
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            self.records[name] = (process, output)

    def stop(self) -> dict[str, Any]:
        """Stop every recording (SIGINT makes py-spy write its file) and summarise each."""
        summaries: dict[str, Any] = {}
        for name, (process, output) in self.records.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                _, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            if not output.exists():
                summaries[name] = {"error": (err or "no output").strip()[-500:]}
                continue
            text_path = output.with_name(output.name.replace(".speedscope.json", ".txt"))
            summary = summarise_speedscope(output)
            text_path.write_text(render_summary(name, summary))
            summaries[name] = {
                "speedscope": str(output),
                "summary": str(text_path),
                "busy_s": summary["seconds"],
                "threads": {t["thread"]: t["seconds"] for t in summary["threads"]},
                "top_self": summary["threads"][0]["top_self"][:5] if summary["threads"] else [],
            }
        self.records.clear()
        return summaries


def summarise_speedscope(path: Path, top: int = 15) -> dict[str, Any]:
    """Busy seconds per thread and, per thread, the functions with the most of them.

    py-spy leaves out idle threads and weighs each sample by the sampling interval, so a
    thread's seconds are the time it spent on the CPU (or in C code it called).
    """
    document = json.loads(path.read_text())
    frames = document["shared"]["frames"]

    def label(index: int) -> str:
        frame = frames[index]
        where = Path(frame.get("file") or "?").name
        return f"{frame['name']} ({where}:{frame.get('line', '?')})"

    threads = []
    for profile in document["profiles"]:
        self_s: Counter[int] = Counter()
        inclusive_s: Counter[int] = Counter()
        busy = 0.0
        for stack, weight in zip(profile["samples"], profile["weights"], strict=False):
            busy += weight
            if stack:
                self_s[stack[-1]] += weight
            for frame in set(stack):
                inclusive_s[frame] += weight
        threads.append(
            {
                "thread": profile["name"],
                "seconds": round(busy, 2),
                "top_self": [(label(i), round(w, 2)) for i, w in self_s.most_common(top)],
                "top_inclusive": [(label(i), round(w, 2)) for i, w in inclusive_s.most_common(top)],
            }
        )
    threads.sort(key=lambda t: -t["seconds"])
    return {"seconds": round(sum(t["seconds"] for t in threads), 2), "threads": threads}


def render_summary(name: str, summary: dict[str, Any]) -> str:
    """The summary as text: per thread, its busy seconds and its top functions."""
    lines = [f"# {name}: {summary['seconds']:.2f} busy seconds sampled"]
    for thread in summary["threads"]:
        lines += ["", f"## {thread['thread']}: {thread['seconds']:.2f} s", "", "self:"]
        lines += [f"  {sec:7.2f} s  {label}" for label, sec in thread["top_self"]]
        lines += ["inclusive:"]
        lines += [f"  {sec:7.2f} s  {label}" for label, sec in thread["top_inclusive"]]
    return "\n".join(lines) + "\n"
