"""PostgreSQL's own tools (pg_dump, pg_restore, pg_basebackup, pg_receivewal, pg_ctl) and DSNs.

Passwords never reach a command line or a message: a tool gets the DSN without its password
and the password in ``PGPASSWORD``; messages show DSNs through :func:`mask_dsn`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from runtime.errors import BackupError

_SEARCH = Path("/usr/lib/postgresql")


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (unchanged when it has none)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    return urlunsplit(parts._replace(netloc=_netloc(parts, "***")))


def split_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password (None when it has none)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, None
    return urlunsplit(parts._replace(netloc=_netloc(parts, None))), unquote(parts.password)


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def database_name(dsn: str) -> str:
    """The database a DSN names (``postgres`` when it names none)."""
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def _netloc(parts: SplitResult, password: str | None) -> str:
    user = parts.username or ""
    auth = f"{user}:{password}@" if password is not None else (f"{user}@" if user else "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{auth}{host}{f':{parts.port}' if parts.port else ''}"


def find_tool(name: str, bin_dir: Path | None = None) -> str:
    """The path of a PostgreSQL program: in ``bin_dir``, on PATH, or the newest in
    ``/usr/lib/postgresql/*/bin``. Raises :class:`BackupError` when it is nowhere."""
    if bin_dir is not None:
        candidate = Path(bin_dir).expanduser() / name
        if candidate.is_file():
            return str(candidate)
        raise BackupError(f"{name} is not in {bin_dir} (ROBOFLEET_PG_BIN_DIR)")
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(_SEARCH.glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    for directory in reversed(versions):
        if (directory / name).is_file():
            return str(directory / name)
    raise BackupError(
        f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client) "
        "or set ROBOFLEET_PG_BIN_DIR"
    )


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def tool_env(password: str | None) -> dict[str, str]:
    """The environment for a tool: this process's, plus ``PGPASSWORD`` when there is one."""
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def _problem(name: str, stderr: bytes, secret: str | None) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    text = lines[-1] if lines else "no message"
    if secret:
        text = text.replace(secret, "***")
    return f"{name} failed: {text}"


def run_tool(args: list[str], password: str | None = None, timeout_s: float | None = None) -> str:
    """Run a tool to completion and return its standard output.

    Raises :class:`BackupError` with the tool's last line of error output when it fails.
    """
    name = Path(args[0]).name
    try:
        done = subprocess.run(
            args, env=tool_env(password), capture_output=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{name} failed: {exc}") from exc
    if done.returncode != 0:
        raise BackupError(_problem(name, done.stderr, password))
    return done.stdout.decode(errors="replace")


async def run_tool_async(args: list[str], password: str | None = None) -> None:
    """Like :func:`run_tool`, without blocking the event loop (output discarded)."""
    name = Path(args[0]).name
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            env=tool_env(password),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
    except OSError as exc:
        raise BackupError(f"{name} failed: {exc}") from exc
    if process.returncode != 0:
        raise BackupError(_problem(name, stderr, password))
