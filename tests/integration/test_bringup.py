"""``robofleet up`` and ``down`` as a user runs them: ports checked before anything is made,
Ray on loopback only, and a crashed ``up`` whose Ray head the next ``up`` names and stops,
exactly that head and no other Ray cluster on the machine."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from cluster import up_record
from cluster.deploy import SINGLE_MACHINE_ENV
from cluster.up_record import ProcessIdentity, UpRecord
from tests.integration.conftest import ROOT, free_port

ONE_ECHO = '[{"name": "echo", "class": "runtime.builtin:Echo", "types": ["echo"], "replicas": 1}]'


@dataclass
class Ports:
    """The ports one ``robofleet up`` is told to use."""

    ray: int
    dashboard: int
    gateway: int
    metrics_export: int


def up_env(ports: Ports) -> dict[str, str]:
    """A small deployment (one echo replica, SQLite, no Redis) on the given ports."""
    env = {
        **os.environ,
        "ROBOFLEET_RAY_PORT": str(ports.ray),
        "ROBOFLEET_DASHBOARD_PORT": str(ports.dashboard),
        "ROBOFLEET_GATEWAY_PORT": str(ports.gateway),
        "ROBOFLEET_METRICS_EXPORT_PORT": str(ports.metrics_export),
        "ROBOFLEET_MODULES": ONE_ECHO,
        "ROBOFLEET_OCR_WORKERS": "0",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("ROBOFLEET_DATABASE_URL", "ROBOFLEET_REDIS_URL", "ROBOFLEET_RAY_ADDRESS"):
        env.pop(name, None)
    return env


def robofleet(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a ``robofleet`` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_up(data_dir: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen, Path]:
    """Start ``robofleet up`` in the background and wait until its gateway is ready."""
    import urllib.request

    log_path = data_dir.parent / f"{data_dir.name}-up-{time.monotonic_ns()}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "cluster.cli", "up", "--data-dir", str(data_dir), *extra],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{env['ROBOFLEET_GATEWAY_PORT']}/readyz"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"robofleet up exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                # The log too: a head left by a killed up may still serve on this port.
                if response.status == 200 and "robofleet is up" in log_path.read_text():
                    return process, log_path
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"robofleet up was not ready:\n{log_path.read_text()[-3000:]}")


def recorded(data_dir: Path) -> UpRecord:
    record = up_record.read(data_dir)
    assert record is not None and record.head is not None, "robofleet up recorded no Ray head"
    return record


def on_loopback(address: str) -> bool:
    """Whether a socket bound to ``address`` is reachable from this machine only (an IPv6
    socket bound to the IPv4-mapped 127.0.0.1, ``::ffff:127.0.0.1``, is)."""
    ip = ipaddress.ip_address(address.strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listening_sockets(root_pid: int) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket listening in the process tree."""
    root = psutil.Process(root_pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        try:
            name = process.name()
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN:
                found.append((name, conn.laddr.ip, conn.laddr.port))
    return found


def stop_quietly(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def ports() -> Ports:
    return Ports(free_port(), free_port(), free_port(), free_port())


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir whose recorded Ray head, if a test leaves one, is stopped at the end."""
    path = tmp_path / "data"
    path.mkdir()
    yield path
    record = up_record.read(path)
    if record is not None:
        up = record.up.find()
        if up is not None:
            up_record.stop_processes([up], 90)
        if record.head is not None:
            up_record.stop_head(record.head)


@pytest.fixture
def other_ray_head() -> Iterator[psutil.Process]:
    """A Ray head that is not robofleet's: nothing robofleet does may stop it."""
    temp_dir = tempfile.mkdtemp(prefix="other-ray-")
    ray = str(Path(sys.executable).with_name("ray"))
    log_path = Path(temp_dir) / "start.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                f"--port={free_port()}", f"--ray-client-server-port={free_port()}",
                "--include-dashboard=false", "--num-cpus=0", "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
            ],
            env={**os.environ, **SINGLE_MACHINE_ENV, "RAY_AUTH_MODE": "disabled"},
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_ray_port_in_the_worker_range_fails_in_one_line_before_any_key_is_made(
    data_dir: Path, ports: Ports
) -> None:
    env = {**up_env(ports), "ROBOFLEET_RAY_PORT": "16380"}
    done = robofleet("up", "--data-dir", str(data_dir), env=env, timeout=60)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "16380" in done.stderr and "worker port range" in done.stderr
    assert "ROBOFLEET_API_KEY" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in data_dir.iterdir()) == []  # no store, no key, no Ray log


def test_a_gateway_port_in_use_fails_in_one_line_before_any_key_is_made(
    data_dir: Path, ports: Ports
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports.gateway))
        holder.listen()
        done = robofleet("up", "--data-dir", str(data_dir), env=up_env(ports), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: the gateway port {ports.gateway} (--port or ROBOFLEET_GATEWAY_PORT) on "
        "127.0.0.1 is in use: choose another port"
    ]
    assert "ROBOFLEET_API_KEY" not in done.stdout
    assert list(data_dir.iterdir()) == []


def test_down_does_not_signal_a_process_that_reused_a_recorded_pid(
    data_dir: Path, ports: Ports
) -> None:
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        real = ProcessIdentity.of(stranger.pid)
        # What a crashed `up` left, after the OS gave its pid to an unrelated process.
        gone_up = ProcessIdentity(
            stranger.pid, real.started_at - 3600, (sys.executable, "-m", "cluster.cli", "up")
        )
        up_record.write(data_dir, UpRecord(gone_up, ports.gateway))
        done = robofleet("down", "--data-dir", str(data_dir), env=up_env(ports), timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"(pid {stranger.pid}) is gone and its pid now names another process" in done.stdout
        time.sleep(0.5)
        assert stranger.poll() is None, "down signalled a process that was not robofleet's"
        assert up_record.read(data_dir) is None
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.timeout(400)
def test_a_local_up_has_no_ray_port_listening_beyond_loopback(data_dir: Path, ports: Ports) -> None:
    up, log_path = start_up(data_dir, up_env(ports))
    try:
        record = recorded(data_dir)
        assert record.up.pid == up.pid
        sockets = listening_sockets(up.pid)
        table = "\n".join(f"{name:<28} {ip}:{port}" for name, ip, port in sorted(sockets))
        assert ports.ray in {port for _, _, port in sockets}, table
        assert ports.gateway in {port for _, _, port in sockets}, table
        exposed = [s for s in sockets if not on_loopback(s[1])]
        assert exposed == [], f"listening beyond loopback:\n{table}"
        # The kernel's socket table agrees: nothing on the GCS port but loopback.
        ss = subprocess.run(["ss", "-Hltn", f"sport = :{ports.ray}"], capture_output=True,
                            text=True, check=True)  # fmt: skip
        local = [line.split()[3] for line in ss.stdout.splitlines()]
        assert local and all(on_loopback(a.rsplit(":", 1)[0]) for a in local), local
    finally:
        down = robofleet("down", "--data-dir", str(data_dir), env=up_env(ports))
    assert down.returncode == 0, down.stderr
    assert f"stopped robofleet up (pid {up.pid})" in down.stdout, down.stdout
    assert up.wait(timeout=30) == 0, log_path.read_text()[-3000:]
    assert record.head is not None and record.head.live() == []
    assert up_record.read(data_dir) is None


@pytest.mark.timeout(900)
def test_after_up_is_killed_up_names_the_orphaned_head_and_stops_exactly_it(
    data_dir: Path, ports: Ports, other_ray_head: psutil.Process
) -> None:
    env = up_env(ports)
    first, _ = start_up(data_dir, env)
    orphan = recorded(data_dir).head
    assert orphan is not None
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert orphan.launcher.find() is not None, "the Ray head died with up: nothing to show"

    again = robofleet("up", "--data-dir", str(data_dir), env=env, timeout=60)
    assert again.returncode == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in again.stdout, again.stdout + again.stderr
    assert f"Ray head pid {orphan.launcher.pid}" in lines[0]
    assert f"(pid {first.pid})" in lines[0] and "robofleet up --recover" in lines[0]
    assert orphan.launcher.find() is not None, "a refused up must not touch the head"

    second, log_path = start_up(data_dir, env, "--recover")
    try:
        assert f"stopping the orphaned Ray head pid {orphan.launcher.pid}" in log_path.read_text()
        assert orphan.live() == [], "recover left processes of the orphaned head running"
        assert other_ray_head.is_running() and other_ray_head.status() != psutil.STATUS_ZOMBIE
        now = recorded(data_dir).head
        assert now is not None and now.launcher != orphan.launcher

        # `down` stops an orphan too: crash the recovered up, then ask `down`.
        second.send_signal(signal.SIGKILL)
        second.wait()
        down = robofleet("down", "--data-dir", str(data_dir), env=env)
    finally:
        stop_quietly(second)
    assert down.returncode == 0, down.stderr
    assert f"robofleet up (pid {second.pid}) is gone; stopping the Ray head" in down.stdout
    assert now.live() == []
    assert other_ray_head.is_running() and other_ray_head.status() != psutil.STATUS_ZOMBIE
    assert up_record.read(data_dir) is None
