"""``robofleet doctor`` against a real deployment (``robofleet up``) with its own Redis:
healthy, it says so and exits 0; with that Redis stopped and a Tesseract language the
config needs missing, it names both, says what to do, and exits 1. ``/readyz`` of the same
deployment details each part, Redis going down included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from cluster.doctor_checks import Report, check_store, tesseract_languages
from runtime.config import Settings
from tests.integration.conftest import ROOT, Fleet, free_port, robofleet_up, service_missing

CONFIG = Path(__file__).with_name("robofleet-doctor.toml")
PG_URL = os.environ.get("ROBOFLEET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


class ThrowawayRedis:
    """A redis-server of this test on a free port, stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server is not installed")
        assert binary is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir"]
            + [str(data_dir), "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server and wait for it to be gone."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, ThrowawayRedis]]:
    if shutil.which("tesseract") is None:
        service_missing("tesseract is not installed")
    data_dir = tmp_path_factory.mktemp("doctor")
    redis = ThrowawayRedis(data_dir)
    env = {"ROBOFLEET_REDIS_URL": redis.url, "ROBOFLEET_DATABASE_URL": ""}
    try:
        with robofleet_up(data_dir, CONFIG, env) as fleet:
            yield fleet, redis
    finally:
        redis.stop()


def doctor(fleet: Fleet, redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``robofleet doctor`` as its user runs it: the deployment's config, data dir and env."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # The gateway port as `robofleet up` had it; the Ray head from the data dir's record.
        "ROBOFLEET_GATEWAY_PORT": str(fleet.gateway_port),
        "ROBOFLEET_REDIS_URL": redis_url,
        **env,
    }
    for name in ("ROBOFLEET_DATABASE_URL", "ROBOFLEET_URL", "ROBOFLEET_RAY_ADDRESS"):
        environment.pop(name, None)
    command = [sys.executable, "-m", "cluster.cli", "doctor", "--config", str(CONFIG)]
    return subprocess.run(
        [*command, "--data-dir", str(fleet.data_dir)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def readyz(fleet: Fleet) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{fleet.url}/readyz", timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def test_doctor_on_a_healthy_deployment_says_so(deployment):
    fleet, redis = deployment
    status, document = readyz(fleet)
    assert status == 200, document
    details = document["details"]
    assert details["store"]["status"] == "ok" and details["store"]["kind"] == "sqlite"
    assert details["redis"]["status"] == "ok"
    assert details["cache"]["status"] == "ok"
    assert {m["name"]: m["status"] for m in details["modules"]} == {"echo": "ok", "ocr": "ok"}
    assert details["mailboxes"] == []

    result = doctor(fleet, redis.url)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "healthy: every check passed"
    assert not [line for line in lines if line.startswith("FAIL")]
    for check in ("store", "redis", "tesseract", "disk", "gateway", "modules", "clock"):
        assert any(line.split()[:2] == ["ok", check] for line in lines), check
    versions = next(line for line in lines if line.startswith("versions: "))
    for name in ("python", "ray", "robofleet", "SQLite", "Redis", "Tesseract"):
        assert f" {name} " in versions


def test_doctor_names_redis_stopped_and_a_missing_tesseract_language(deployment, tmp_path):
    fleet, redis = deployment
    redis.stop()
    # Tesseract reads its languages from TESSDATA_PREFIX: one holding English only, while
    # the config needs German too.
    installed_in, _ = tesseract_languages()
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    (tessdata / "eng.traineddata").symlink_to(Path(installed_in) / "eng.traineddata")
    result = doctor(
        fleet, redis.url, TESSDATA_PREFIX=str(tessdata), ROBOFLEET_OCR_LANGUAGES='["eng","deu"]'
    )
    print(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    summary = lines.index("2 problems, and what to do:")
    problems = lines[summary + 1 :]
    assert len(problems) == 2
    redis_line, tesseract_line = problems
    assert redis_line.startswith(f"- redis: Redis at {redis.url} does not answer")
    assert "Fix: start Redis" in redis_line
    assert tesseract_line.startswith("- tesseract: Tesseract lacks the language deu")
    assert "apt-get install tesseract-ocr-deu" in tesseract_line
    assert f"deu.traineddata into {tessdata}" in tesseract_line

    # The gateway sees it too: still ready (it falls back to local rate limits), Redis down.
    status, document = readyz(fleet)
    assert status == 200
    assert document["details"]["redis"]["status"] == "down"


def test_doctor_reports_the_postgresql_server_version():
    import asyncio

    import asyncpg

    async def reachable() -> bool:
        try:
            await (await asyncpg.connect(PG_URL, timeout=3)).close()
        except (OSError, asyncpg.PostgresError):
            return False
        return True

    if not asyncio.run(reachable()):
        service_missing(f"PostgreSQL at {PG_URL} is not reachable")
    report = Report()
    check_store(Settings(database_url=PG_URL), report)
    [finding] = report.findings
    assert finding.ok, finding
    assert report.versions["PostgreSQL"][:2].isdigit()
    assert finding.message.startswith(f"PostgreSQL {report.versions['PostgreSQL']} at ")

    nobody = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/test"
    report = Report()
    check_store(Settings(database_url=nobody), report)
    [finding] = report.problems
    assert "does not answer" in finding.message and "secret" not in finding.message
    assert "ROBOFLEET_DATABASE_URL" in (finding.fix or "")
