"""PostgreSQL stopped for 10 s and started again under 16 concurrent submitters.

The test runs a PostgreSQL cluster of its own (``initdb`` and ``pg_ctl`` on a free port, in a
temporary directory) so it can stop it, and a ``robofleet up`` on it. What a user checks:
every submit is answered 202 or 503 with ``Retry-After``; a submit made while the database is
down is answered 503 (a submit whose write was already on its way when the connection dropped
may have been stored, so it waits for the database and may be answered 202: which of the 16
were on their way is timing); every robot answered 202 reaches ``succeeded`` without a restart
of robofleet; the gateway's log holds a few lines about the outage, not a traceback per request.
"""

from __future__ import annotations

import asyncio
import collections
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import Fleet, free_port, robofleet_up, service_missing

SUBMITTERS = 16
OUTAGE_S = 10.0

CONFIG = """
health_interval_s = 1.0
health_timeout_s = 2.0
retry_base_s = 0.2
retry_max_s = 1.0
key_cache_ttl_s = 1.0
ocr_workers = 0

[rate_limits.admin]
rate = 100000
burst = 100000

[[modules]]
name = "echo"
class = "runtime.builtin:Echo"
replicas = 2
max_concurrency = 64
"""


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class OwnPostgres:
    """A PostgreSQL cluster in ``root`` on ``port``, run as the ``postgres`` user under root."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.data = root / "pgdata"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.port = port
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            if shutil.which("runuser") is None:
                service_missing(
                    "running as root without runuser to start PostgreSQL as another user"
                )
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.sockets.mkdir(parents=True)
        if self._as_user:
            shutil.chown(root, "postgres")
            shutil.chown(self.sockets, "postgres")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as_user, str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def init(self) -> None:
        """Create the cluster: trust authentication, user ``postgres``."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        """Start the server on 127.0.0.1 and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server the way an operator does: fast shutdown, sessions ended."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPostgres]:
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        service_missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    assert bin_dir is not None
    # Not under pytest's temporary directory: the postgres user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="robofleet-own-postgres-"))
    try:
        server = OwnPostgres(bin_dir, root, free_port())
        server.init()
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            except RuntimeError:
                pass  # already stopped
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet_on_own_postgres(
    own_postgres: OwnPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """``robofleet up`` on the test's own PostgreSQL, without Redis."""
    data_dir = tmp_path_factory.mktemp("robofleet-outage")
    config = data_dir / "robofleet.toml"
    config.write_text(CONFIG)
    env = {"ROBOFLEET_DATABASE_URL": own_postgres.dsn, "ROBOFLEET_REDIS_URL": ""}
    with robofleet_up(data_dir, config, env) as fleet:
        yield fleet


def _listener_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def _gateway_logs(port: int) -> list[Path]:
    """The files the gateway process writes its stdout and stderr to."""
    pid = _listener_pid(port)
    assert pid is not None, f"no process listens on the gateway port {port}"
    paths = {Path(os.readlink(f"/proc/{pid}/fd/{fd}")) for fd in (1, 2)}
    return sorted(p for p in paths if p.is_file())


@dataclass
class Answers:
    """What the submitters were told."""

    accepted: list[str] = field(default_factory=list)
    unavailable: int = 0
    without_retry_after: int = 0
    other: list[tuple[int, str]] = field(default_factory=list)
    accepted_after_outage: int = 0


async def _submitter(
    http: aiohttp.ClientSession,
    url: str,
    answers: Answers,
    stop: asyncio.Event,
    back: asyncio.Event,
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            async with http.post(
                f"{url}/v1/robots", json={"type": "echo", "payload": {"n": n}}
            ) as response:
                body = await response.text()
                if response.status == 202:
                    answers.accepted.append((await response.json())["id"])
                    if back.is_set():
                        answers.accepted_after_outage += 1
                elif response.status == 503:
                    answers.unavailable += 1
                    if "Retry-After" not in response.headers:
                        answers.without_retry_after += 1
                    await asyncio.sleep(0.2)  # sooner than Retry-After: keep the pressure on
                else:
                    answers.other.append((response.status, body[:300]))
        except aiohttp.ClientError as exc:
            answers.other.append((0, repr(exc)))
            await asyncio.sleep(0.2)


async def _probe_while_down(
    http: aiohttp.ClientSession, url: str, until: float
) -> list[tuple[int, bool]]:
    """Submit one robot after another until ``until``: each answer's status, Retry-After set."""
    told = []
    while time.monotonic() < until:
        async with http.post(
            f"{url}/v1/robots", json={"type": "echo", "payload": {"probe": len(told)}}
        ) as response:
            await response.read()
            told.append((response.status, "Retry-After" in response.headers))
        await asyncio.sleep(0.1)
    return told


async def _statuses(http: aiohttp.ClientSession, url: str, ids: list[str]) -> dict[str, str]:
    async def one(robot_id: str) -> tuple[str, str]:
        async with http.get(f"{url}/v1/robots/{robot_id}") as response:
            if response.status != 200:
                return robot_id, f"http {response.status}"
            return robot_id, (await response.json())["status"]

    found: dict[str, str] = {}
    for start in range(0, len(ids), 200):
        found.update(await asyncio.gather(*(one(i) for i in ids[start : start + 200])))
    return found


@pytest.mark.timeout(300)  # its own PostgreSQL and robofleet up, a 10 s outage, a shutdown
async def test_postgres_outage_under_load_loses_nothing_and_logs_little(
    own_postgres: OwnPostgres, fleet_on_own_postgres: Fleet
) -> None:
    fleet = fleet_on_own_postgres
    logs = _gateway_logs(fleet.gateway_port)
    offsets = {path: path.stat().st_size for path in logs}
    answers = Answers()
    stop, back = asyncio.Event(), asyncio.Event()
    headers = {"Authorization": f"Bearer {fleet.admin_key}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        submitters = [
            asyncio.create_task(_submitter(http, fleet.url, answers, stop, back))
            for _ in range(SUBMITTERS)
        ]
        await asyncio.sleep(3.0)
        before_outage = len(answers.accepted)
        stopped_at = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        probes = await _probe_while_down(http, fleet.url, stopped_at + OUTAGE_S - 2.0)
        await asyncio.sleep(max(0.0, stopped_at + OUTAGE_S - time.monotonic()))
        await asyncio.to_thread(own_postgres.start)
        back.set()
        deadline = time.monotonic() + 60
        while answers.accepted_after_outage < 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*submitters)

        assert before_outage > 0, "nothing was accepted before the outage"
        assert answers.other == [], answers.other[:5]
        assert probes, "no submit was answered while the database was down"
        assert set(probes) == {(503, True)}, collections.Counter(probes)
        assert answers.without_retry_after == 0
        assert answers.accepted_after_outage >= 50, "submits did not recover after the outage"

        deadline = time.monotonic() + 120
        statuses = await _statuses(http, fleet.url, answers.accepted)
        while time.monotonic() < deadline and set(statuses.values()) != {"succeeded"}:
            await asyncio.sleep(1.0)
            waiting = [i for i, s in statuses.items() if s != "succeeded"]
            statuses.update(await _statuses(http, fleet.url, waiting))
        stuck = {i: s for i, s in statuses.items() if s != "succeeded"}
        assert stuck == {}, (
            f"{len(stuck)} of {len(statuses)} accepted robots: {list(stuck.items())[:5]}"
        )

    assert fleet.process.poll() is None, "robofleet up exited"
    written = []
    for path, offset in offsets.items():
        with path.open(errors="replace") as log_file:
            log_file.seek(offset)
            written += [line for line in log_file.read().splitlines() if line.strip()]
    print(  # what a reader of `pytest -s` sees of the run
        f"accepted {len(answers.accepted)} (after the outage {answers.accepted_after_outage}), "
        f"503 {answers.unavailable}, probes while down {collections.Counter(probes)}; "
        "gateway log during the outage:",
        *written,
        sep="\n  ",
    )
    assert not any("Traceback" in line for line in written), "\n".join(written[:40])
    assert len(written) <= 6, "\n".join(written[:40])
