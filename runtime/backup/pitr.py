"""PostgreSQL point-in-time recovery: base backups, a WAL archive, and a restore to a time.

- :func:`base_backup` runs ``pg_basebackup`` (tar, gzip, its WAL streamed alongside).
- :class:`WalArchive` keeps ``pg_receivewal`` streaming the server's WAL into
  ``<backups>/wal`` through a replication slot, so no segment is missed while it is down;
  ``--synchronous`` flushes each write, so the recovery point is seconds behind the server.
- :func:`restore_to_time` unpacks a base backup into a new data directory, lets PostgreSQL
  replay the archived WAL up to the target time, promotes it and starts it on a port.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from runtime.backup.manifest import BaseBackupInfo
from runtime.backup.pg_tools import (
    database_name,
    find_tool,
    run_tool,
    split_password,
    tool_env,
)
from runtime.errors import BackupError, BackupInvalid, RestoreRefused

SLOT = "robofleet_backup"
BASE_DIR = "base"
WAL_DIR_NAME = "wal"


def base_backup(dsn: str, out_dir: Path, bin_dir: Path | None = None) -> BaseBackupInfo:
    """Take a base backup of the server of ``dsn`` into ``out_dir/base``.

    Raises :class:`BackupError` when pg_basebackup fails (e.g. no replication access).
    """
    bare, password = split_password(dsn)
    target = out_dir / BASE_DIR
    started = time.time()
    run_tool(
        [find_tool("pg_basebackup", bin_dir), f"--dbname={bare}", f"--pgdata={target}",
         "--format=tar", "--gzip", "--wal-method=stream", "--checkpoint=fast", "--no-password"],
        password,
    )
    files = sorted(f"{BASE_DIR}/{p.name}" for p in target.iterdir() if p.is_file())
    return BaseBackupInfo(
        started_at=started, finished_at=time.time(), files=files, start_wal=start_segment(target)
    )


def segment_name(timeline: int, lsn: str, segment_bytes: int = 16 * 1024 * 1024) -> str:
    """The WAL file name holding ``lsn`` (``"0/2000028"``) on ``timeline``."""
    high, low = (int(part, 16) for part in lsn.split("/"))
    per_id = 0x1_0000_0000 // segment_bytes
    number = (high * 0x1_0000_0000 + low) // segment_bytes
    return f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"


def start_segment(base_dir: Path) -> str | None:
    """The first WAL segment a base backup needs, from pg_basebackup's ``backup_manifest``."""
    try:
        ranges = json.loads((base_dir / "backup_manifest").read_text())["WAL-Ranges"]
        first = ranges[0]
        return segment_name(int(first["Timeline"]), str(first["Start-LSN"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


_SEGMENT = re.compile(r"^[0-9A-F]{24}(\.partial)?$")


def prune_wal(archive: Path, oldest_needed: str) -> int:
    """Delete archived WAL segments older than ``oldest_needed``; return how many went.

    Timeline history files and anything not named like a segment are kept.
    """
    removed = 0
    for path in archive.iterdir() if archive.is_dir() else []:
        if _SEGMENT.match(path.name) and path.name[:24] < oldest_needed:
            path.unlink()
            removed += 1
    return removed


class WalArchive:
    """``pg_receivewal`` streaming the WAL of one server into a directory, restarted if it dies.

    ``start`` creates the replication slot (once) and the process; ``poll`` restarts it when
    it has exited; ``stop`` ends it. The slot keeps WAL on the server while nothing streams.
    """

    def __init__(self, dsn: str, directory: Path, bin_dir: Path | None = None) -> None:
        self.dsn = dsn
        self.directory = directory
        self._tool = find_tool("pg_receivewal", bin_dir)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Create the slot if needed and start streaming. Raises :class:`BackupError`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        bare, password = split_password(self.dsn)
        run_tool(
            [self._tool, f"--dbname={bare}", f"--slot={SLOT}", "--create-slot",
             "--if-not-exists", "--no-password"],
            password,
        )
        self._spawn()

    def _spawn(self) -> None:
        bare, password = split_password(self.dsn)
        self._process = subprocess.Popen(
            [self._tool, f"--dbname={bare}", f"--directory={self.directory}", f"--slot={SLOT}",
             "--synchronous", "--no-password"],
            env=tool_env(password),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def poll(self) -> bool:
        """Restart pg_receivewal if it exited; True when it was running."""
        if self._process is not None and self._process.poll() is None:
            return True
        self._spawn()
        return False

    def stop(self) -> None:
        """Stop streaming (what was received stays in the directory)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


@dataclass(frozen=True, slots=True)
class PitrRestore:
    """A finished point-in-time restore: where the server runs and what it took."""

    data_dir: Path
    port: int
    dsn: str
    seconds: float
    recovery_note: str


def _stage_wal(archive: Path, staging: Path) -> int:
    """Copy archived WAL into ``staging``, the open ``.partial`` segment under its own name."""
    staging.mkdir(parents=True, exist_ok=True)
    copied = 0
    for path in sorted(archive.iterdir()) if archive.is_dir() else []:
        name = path.name.removesuffix(".partial")
        if path.name.endswith(".partial") and (archive / name).exists():
            continue
        if path.is_file():
            shutil.copyfile(path, staging / name)
            copied += 1
    return copied


def _unpack(tar_path: Path, into: Path) -> None:
    try:
        with tarfile.open(tar_path) as tar:
            tar.extractall(into, filter="tar")
    except (OSError, tarfile.TarError) as exc:
        raise BackupInvalid(f"{tar_path.name} cannot be unpacked: {exc}") from exc


def _as_user(user: str | None, args: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if user else args


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` account."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise BackupError("running as root and there is no 'postgres' account to run "
                          "PostgreSQL as: run the restore as the database's own user") from exc
    return "postgres"


def restore_to_time(
    backup_dir: Path,
    base: BaseBackupInfo,
    archive: Path,
    target_time: float,
    data_dir: Path,
    port: int,
    source_dsn: str,
    force: bool = False,
    bin_dir: Path | None = None,
) -> PitrRestore:
    """Recover the server as of ``target_time`` into ``data_dir`` and leave it running.

    ``source_dsn`` gives the user and database to connect as afterwards (its password is
    reused). Raises :class:`RestoreRefused` when ``data_dir`` is not empty and ``force`` is
    false, :class:`BackupError` when recovery fails (the server log's last line says why).
    """
    started = time.monotonic()
    if data_dir.exists() and any(data_dir.iterdir()):
        if not force:
            raise RestoreRefused(
                f"{data_dir} is not empty: restore into a new directory, or add --force"
            )
        pg_ctl = find_tool("pg_ctl", bin_dir)
        subprocess.run(_as_user(_server_user(), [pg_ctl, "-D", str(data_dir), "-m", "fast",
                       "stop"]), capture_output=True, check=False)
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    _unpack(backup_dir / BASE_DIR / "base.tar.gz", data_dir)
    wal_tar = backup_dir / BASE_DIR / "pg_wal.tar.gz"
    if wal_tar.exists():
        _unpack(wal_tar, data_dir / "pg_wal")
    staging = data_dir.with_name(f"{data_dir.name}.wal-archive")
    shutil.rmtree(staging, ignore_errors=True)
    _stage_wal(archive, staging)
    (data_dir / "standby.signal").unlink(missing_ok=True)
    (data_dir / "recovery.signal").touch()
    when = datetime.fromtimestamp(target_time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    with (data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            "\n# robofleet backup restore --to-time\n"
            f"restore_command = 'cp \"{staging}/%f\" \"%p\"'\n"
            f"recovery_target_time = '{when}'\n"
            "recovery_target_action = 'promote'\n"
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "archive_mode = off\n"
        )
    os.chmod(data_dir, 0o700)
    user = _server_user()
    if user:
        for path in (data_dir, staging):
            run_tool(["chown", "-R", f"{user}:", str(path)])
    log = data_dir.with_name(f"{data_dir.name}.log")
    log.touch()
    if user:
        shutil.chown(log, user)
    pg_ctl = find_tool("pg_ctl", bin_dir)
    done = subprocess.run(
        _as_user(user, [pg_ctl, "-D", str(data_dir), "-l", str(log), "-w", "-t", "600", "start"]),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"recovery failed: {_last_problem(log)}")
    bare, password = split_password(source_dsn)
    source = urlsplit(bare)
    dsn = f"postgresql://{source.username or 'postgres'}@127.0.0.1:{port}/{database_name(bare)}"
    _wait_promoted(dsn, password, log)
    return PitrRestore(data_dir, port, dsn, time.monotonic() - started, _recovery_note(log))


def _wait_promoted(dsn: str, password: str | None, log: Path, timeout_s: float = 600) -> None:
    async def promoted() -> bool:
        conn = await asyncpg.connect(dsn, password=password, timeout=10)
        try:
            return not await conn.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if asyncio.run(promoted()):
                return
        except (OSError, asyncpg.PostgresError) as exc:
            if "recovery" not in str(exc) and "starting up" not in str(exc):
                raise BackupError(f"restored server does not answer: {exc}") from exc
        time.sleep(0.2)
    raise BackupError(f"recovery did not finish in {timeout_s:g}s: {_last_problem(log)}")


def _last_problem(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    bad = [line for line in lines if "FATAL" in line or "ERROR" in line]
    return (bad or lines or ["no server log"])[-1].strip()


def _recovery_note(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    notes = [line.split("LOG:", 1)[-1].strip() for line in lines
             if "recovery stopping" in line or "last completed transaction" in line]
    return "; ".join(notes)
