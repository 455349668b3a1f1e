"""A throwaway PostgreSQL cluster of a test's own: initdb under a temp dir, a free port.

For what the shared test server must not be reconfigured for (``wal_level=replica`` with
replication connections, point-in-time recovery). Trust auth on 127.0.0.1 only. As root the
server runs as the ``postgres`` account, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import free_port, service_missing


def _newest_server_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = Path(os.environ.get("ROBOFLEET_TEST_PG_BIN") or _newest_server_bin())
"""The server binaries (initdb, pg_ctl): ROBOFLEET_TEST_PG_BIN, else the newest installed."""


@dataclass
class PgCluster:
    """A running throwaway cluster: its data dir, port, DSN of database ``robofleet``."""

    root: Path
    data_dir: Path
    port: int
    user: str | None

    @property
    def dsn(self) -> str:
        """DSN of the cluster's ``robofleet`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/robofleet"


def as_server_user(user: str | None, args: list[str]) -> list[str]:
    """``args`` run as ``user`` (when root) through runuser."""
    return ["runuser", "-u", user, "--", *args] if user else args


def pg_ctl_stop(data_dir: Path, user: str | None) -> None:
    """Stop the server of ``data_dir`` fast (no error if it is not running)."""
    subprocess.run(
        as_server_user(user, [str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-m", "immediate",
                              "-w", "stop"]),
        capture_output=True,
        check=False,
    )


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """Start a fresh cluster (wal_level=replica, trust on 127.0.0.1); remove it after."""
    if not (PG_BIN / "initdb").is_file():
        service_missing(f"PostgreSQL server binaries are not in {PG_BIN}")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            service_missing("running as root and there is no 'postgres' account for initdb")
    root = Path(tempfile.mkdtemp(prefix="robofleet-pg-"))
    os.chmod(root, 0o755)
    data_dir = root / "data"
    data_dir.mkdir()
    if user:
        shutil.chown(root, user)
        shutil.chown(data_dir, user)
    port = free_port()
    subprocess.run(
        as_server_user(user, [str(PG_BIN / "initdb"), "-D", str(data_dir), "-U", "postgres",
                              "--auth=trust", "--no-sync", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
            "full_page_writes = on\nshared_buffers = 32MB\n"
        )
    log = root / "server.log"
    try:
        subprocess.run(
            as_server_user(user, [str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-l", str(log),
                                  "-w", "start"]),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             "-qc", "CREATE DATABASE robofleet", "postgres"],
            check=True,
            capture_output=True,
        )
        yield PgCluster(root, data_dir, port, user)
    finally:
        pg_ctl_stop(data_dir, user)
        shutil.rmtree(root, ignore_errors=True)
