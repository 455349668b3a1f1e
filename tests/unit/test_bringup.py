"""Bring-up without Ray: port checks, the record of what ``robofleet up`` started, and which
recorded processes ``up`` and ``down`` may signal (a ``sleep`` stands in for a Ray head)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from cluster import up_record
from cluster.bringup_cli import cluster_settings, settle_previous_up, stop_recorded, up_ports
from cluster.cli import build_parser
from cluster.deploy import head_env
from cluster.ports import RAY_WORKER_PORTS, WantedPort, check_ports
from cluster.up_record import HeadRecord, ProcessIdentity, UpRecord
from runtime.config import Settings
from runtime.errors import ConfigError


def never_in_use(host: str, port: int) -> str | None:
    return None


def wanted(port: int, what: str = "the Ray port") -> WantedPort:
    return WantedPort(what, "ROBOFLEET_RAY_PORT", "127.0.0.1", port)


def test_a_port_inside_rays_worker_range_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        check_ports([wanted(16380)], problem=never_in_use)
    message = str(refused.value)
    assert "\n" not in message
    assert "16380" in message and "ROBOFLEET_RAY_PORT" in message
    assert f"{RAY_WORKER_PORTS.start}-{RAY_WORKER_PORTS.stop - 1}" in message


def test_the_ends_of_the_worker_range_are_inside_it_and_their_neighbours_outside() -> None:
    for port in (10002, 19999):
        with pytest.raises(ConfigError):
            check_ports([wanted(port)], problem=never_in_use)
    check_ports([wanted(10001), wanted(20000, "the gateway port")], problem=never_in_use)


def test_a_port_in_use_is_named_with_the_setting_that_chose_it() -> None:
    with pytest.raises(
        ConfigError, match=r"the gateway port 8080 \(--port\) on 127.0.0.1 is in use"
    ):
        check_ports(
            [WantedPort("the gateway port", "--port", "127.0.0.1", 8080)],
            problem=lambda host, port: "is in use",
        )


def test_two_roles_on_one_port_and_ports_out_of_range_are_refused() -> None:
    with pytest.raises(ConfigError, match="is also the Ray port 6380"):
        check_ports([wanted(6380), wanted(6380, "the gateway port")], problem=never_in_use)
    for port in (0, 70000):
        with pytest.raises(ConfigError, match="not a TCP port"):
            check_ports([wanted(port)], problem=never_in_use)


def test_range_problems_are_found_before_any_port_is_bound() -> None:
    tried: list[int] = []

    def problem(host: str, port: int) -> str | None:
        tried.append(port)
        return None

    with pytest.raises(ConfigError):
        check_ports([wanted(6380, "the gateway port"), wanted(16380)], problem=problem)
    assert tried == []


def test_up_checks_its_head_ports_and_only_the_gateway_when_it_joins_a_cluster() -> None:
    settings = Settings(
        ray_port=6380, dashboard_port=8265, metrics_export_port=8090, gateway_port=8080
    )
    assert [p.port for p in up_ports(settings)] == [6380, 8265, 8090, 8080]
    joined = settings.model_copy(update={"ray_address": "10.0.0.1:6380"})
    assert [p.port for p in up_ports(joined)] == [8080]


def test_up_points_the_dashboard_at_a_prometheus_when_told() -> None:
    args = build_parser().parse_args(["up", "--prometheus", "http://10.0.0.5:9090"])
    assert cluster_settings(args).prometheus_url == "http://10.0.0.5:9090"
    assert cluster_settings(build_parser().parse_args(["up"])).prometheus_url is None
    assert head_env(cluster_settings(args))["RAY_PROMETHEUS_HOST"] == "http://10.0.0.5:9090"
    assert "RAY_PROMETHEUS_HOST" not in head_env(Settings())


def test_ray_listens_on_loopback_unless_told_otherwise() -> None:
    assert Settings().ray_host == "127.0.0.1"
    args = build_parser().parse_args(["up", "--ray-host", "10.0.0.1", "--recover"])
    assert args.ray_host == "10.0.0.1" and args.recover


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A process that is not robofleet's; it must outlive every test that does not own it."""
    process = subprocess.Popen(["sleep", "300"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_an_identity_names_its_process_only_with_its_start_time_and_command_line(
    sleeper: subprocess.Popen,
) -> None:
    me = ProcessIdentity.of(sleeper.pid)
    assert me.cmdline == ("sleep", "300")
    assert me.find() is not None and not me.pid_reused()
    other_start = replace(me, started_at=me.started_at - 100)
    other_command = replace(me, cmdline=("python", "-m", "cluster.cli", "up"))
    for stranger in (other_start, other_command):
        assert stranger.find() is None
        assert stranger.pid_reused()
    assert other_command.find(by_cmdline=False) is not None  # a retitled Ray process
    sleeper.kill()
    sleeper.wait()
    assert me.find() is None and not me.pid_reused()


def record_of(up: ProcessIdentity, launcher: ProcessIdentity, temp_dir: Path) -> UpRecord:
    head = HeadRecord(launcher, "127.0.0.1:6380", str(temp_dir), {"gcs": 6380}, "session_x")
    return UpRecord(up, 8080, head)


def _identity_once_running(process: subprocess.Popen) -> ProcessIdentity:
    """The identity of a child once it shows its own command line (not the parent's)."""
    for _ in range(500):
        identity = ProcessIdentity.of(process.pid)
        if identity.cmdline[:1] == (process.args[0],):
            return identity
        time.sleep(0.01)
    raise AssertionError(f"{process.args} never showed its command line")


def gone_process() -> ProcessIdentity:
    done = subprocess.run(["sh", "-c", "echo $$"], check=True, capture_output=True, text=True)
    pid = int(done.stdout)
    return ProcessIdentity(pid, 1.0, (sys.executable, "-m", "cluster.cli", "up"))


def test_the_record_round_trips_and_an_unreadable_one_names_nothing(tmp_path: Path) -> None:
    me = ProcessIdentity.of(os.getpid())
    record = record_of(me, me, tmp_path)
    up_record.write(tmp_path, record)
    assert up_record.read(tmp_path) == record
    up_record.clear(tmp_path, replace(record, gateway_port=1))  # not the one on disk
    assert up_record.read(tmp_path) == record
    up_record.clear(tmp_path, record)
    assert up_record.read(tmp_path) is None
    up_record.record_path(tmp_path).write_text('{"up": {"pid": 1}}')
    assert up_record.read(tmp_path) is None


def test_up_refuses_while_the_recorded_up_runs(tmp_path: Path) -> None:
    me = ProcessIdentity.of(os.getpid())
    up_record.write(tmp_path, UpRecord(me, 8080))
    with pytest.raises(ConfigError, match=f"robofleet up \\(pid {os.getpid()}\\) already runs"):
        settle_previous_up(tmp_path, recover=True)


def test_up_names_an_orphaned_head_and_recover_stops_exactly_it(
    tmp_path: Path, sleeper: subprocess.Popen
) -> None:
    orphan = subprocess.Popen(["sleep", "301"])
    head = _identity_once_running(orphan)
    up_record.write(tmp_path, record_of(gone_process(), head, tmp_path))
    with pytest.raises(ConfigError) as refused:
        settle_previous_up(tmp_path, recover=False)
    assert f"Ray head pid {orphan.pid}" in str(refused.value)
    assert "robofleet up --recover" in str(refused.value)
    assert orphan.poll() is None
    settle_previous_up(tmp_path, recover=True)
    assert orphan.wait(timeout=10) is not None
    assert sleeper.poll() is None
    assert up_record.read(tmp_path) is None


def test_down_leaves_alone_a_pid_that_now_names_another_process(
    tmp_path: Path, sleeper: subprocess.Popen, capsys: pytest.CaptureFixture[str]
) -> None:
    real = ProcessIdentity.of(sleeper.pid)
    reused = ProcessIdentity(sleeper.pid, real.started_at - 50, ("python", "-m", "cluster.cli"))
    record = record_of(reused, reused, tmp_path)
    assert stop_recorded(record, tmp_path) is False
    assert sleeper.poll() is None
    assert psutil.Process(sleeper.pid).status() != psutil.STATUS_ZOMBIE
    assert "now names another process: left alone" in capsys.readouterr().out


def test_down_stops_a_head_whose_up_is_gone(
    tmp_path: Path, sleeper: subprocess.Popen, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan = subprocess.Popen(["sleep", "302"])
    record = record_of(gone_process(), ProcessIdentity.of(orphan.pid), tmp_path)
    up_record.write(tmp_path, record)
    assert stop_recorded(record, tmp_path) is True
    assert orphan.wait(timeout=10) is not None
    assert sleeper.poll() is None
    assert "stopped the orphaned Ray head" in capsys.readouterr().out
    assert up_record.read(tmp_path) is None


def test_down_has_no_flag_that_reaches_other_clusters_unasked() -> None:
    args = build_parser().parse_args(["down"])
    assert isinstance(args, argparse.Namespace) and args.stop_ray is False


def test_an_up_that_fails_before_it_starts_leaves_no_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cluster import bringup_cli, deploy
    from cluster.cli import main

    data_dir = tmp_path / "deployment"
    assert main(["up", "--data-dir", str(data_dir), "--port", "16380"]) == 1
    assert "16380" in capsys.readouterr().err
    assert not data_dir.exists()

    def broken(settings: Settings) -> str | None:
        raise ConfigError("the store cannot be opened")

    monkeypatch.setattr(deploy, "check_head_host", lambda settings: None)
    monkeypatch.setattr(bringup_cli, "check_ports", lambda wanted: None)
    monkeypatch.setattr(bringup_cli, "bootstrap_admin_key", broken)
    assert main(["up", "--data-dir", str(data_dir)]) == 1
    assert "the store cannot be opened" in capsys.readouterr().err
    assert not data_dir.exists()
    data_dir.mkdir()
    (data_dir / "kept").write_text("x")
    assert main(["up", "--data-dir", str(data_dir)]) == 1
    assert (data_dir / "kept").read_text() == "x"
