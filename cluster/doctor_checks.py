"""The checks ``robofleet doctor`` runs from the machine it runs on: the store, Redis,
Tesseract and its languages, disk space, versions. Each writes what it found into a
:class:`Report`: a line per check, and for a problem what to do about it."""

from __future__ import annotations

import asyncio
import platform
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from runtime.config import Settings

__all__ = [
    "MIN_FREE_BYTES",
    "MIN_FREE_FRACTION",
    "OCR_TYPES",
    "Finding",
    "Report",
    "check_disk",
    "check_notify",
    "check_redis",
    "check_store",
    "check_tesseract",
    "local_versions",
    "tesseract_languages",
    "without_password",
]

MIN_FREE_BYTES = 1024**3
"""Less free space than this (1 GiB) on the data or backups disk is a problem."""
MIN_FREE_FRACTION = 0.05
"""So is less than this share of the disk free."""
OCR_TYPES = frozenset({"ocr.extract", "invoice.extract"})
"""Robot types that need Tesseract."""
TIMEOUT_S = 3.0
"""Longest wait for one service to answer."""


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``check`` names it, ``message`` says what was found, and a
    problem (``ok`` False) carries ``fix``, what to do about it."""

    check: str
    ok: bool
    message: str
    fix: str | None = None


@dataclass
class Report:
    """What a doctor run found: findings in order, versions by component."""

    findings: list[Finding] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def ok(self, check: str, message: str) -> None:
        """Record a check that passed."""
        self.findings.append(Finding(check, True, message))

    def problem(self, check: str, message: str, fix: str) -> None:
        """Record a problem and what to do about it."""
        self.findings.append(Finding(check, False, message, fix))

    @property
    def problems(self) -> list[Finding]:
        """The findings that are problems."""
        return [f for f in self.findings if not f.ok]


def without_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- store ---------------------------------------------------------------------------------


async def _postgres_version(dsn: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(dsn, timeout=TIMEOUT_S)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def check_store(settings: Settings, report: Report) -> None:
    """Reach the store the settings name: PostgreSQL's server version, or the SQLite file."""
    if settings.database_url:
        shown = without_password(settings.database_url)
        try:
            version = asyncio.run(asyncio.wait_for(_postgres_version(settings.database_url), 10))
        except Exception as exc:
            report.problem(
                "store",
                f"PostgreSQL at {shown} does not answer ({_error(exc)})",
                "start the database server, or correct ROBOFLEET_DATABASE_URL",
            )
            return
        report.versions["PostgreSQL"] = version
        report.ok("store", f"PostgreSQL {version} at {shown}")
        return
    path = settings.data_dir.expanduser() / "robofleet.db"
    report.versions["SQLite"] = sqlite3.sqlite_version
    if not path.is_file():
        report.problem(
            "store",
            f"no SQLite store at {path}",
            "run doctor with the deployment's data dir (--data-dir or ROBOFLEET_DATA_DIR), "
            "or start robofleet there (`robofleet up`)",
        )
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_S) as db:
            robots = db.execute("SELECT count(*) FROM robots").fetchone()[0]
    except sqlite3.Error as exc:
        report.problem(
            "store",
            f"the SQLite store {path} cannot be read ({_error(exc)})",
            "check the file's permissions and the disk; restore it from a backup if it is damaged",
        )
        return
    report.ok("store", f"SQLite {sqlite3.sqlite_version} at {path}, {robots} robots")


# -- Redis ---------------------------------------------------------------------------------


def check_redis(settings: Settings, report: Report) -> bool:
    """Ping the Redis of ``ROBOFLEET_REDIS_URL``, if set; return whether it answered."""
    if not settings.redis_url:
        report.ok("redis", "not configured (each gateway keeps its own rate limits and cache)")
        return True
    import redis

    shown = without_password(settings.redis_url)
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
    try:
        version = str(client.info("server")["redis_version"])
    except (redis.RedisError, OSError) as exc:
        report.problem(
            "redis",
            f"Redis at {shown} does not answer ({_error(exc)}); gateways fall back to local "
            "rate limits and the cache to its memory",
            "start Redis (`systemctl start redis-server`, or `redis-server`) or correct "
            "ROBOFLEET_REDIS_URL (unset it to run without Redis); robofleet reconnects by itself",
        )
        return False
    finally:
        client.close()
    report.versions["Redis"] = version
    report.ok("redis", f"Redis {version} at {shown}")
    return True


# -- Tesseract -----------------------------------------------------------------------------


def _apt_package(language: str) -> str:
    return "tesseract-ocr-" + language.lower().replace("_", "-")


def tesseract_languages(binary: str = "tesseract") -> tuple[str, set[str]]:
    """Where Tesseract reads its languages (``TESSDATA_PREFIX`` honoured), and which it has.

    Raises ``OSError`` when ``binary`` cannot be run.
    """
    listing = subprocess.run(
        [binary, "--list-langs"], capture_output=True, text=True, timeout=TIMEOUT_S * 3
    )
    lines = (listing.stdout + listing.stderr).splitlines()
    where = next((m[1] for line in lines if (m := re.search(r'languages in "(.+?)"', line))), "")
    installed = {line.strip() for line in lines[1:] if re.fullmatch(r"[A-Za-z_]+", line.strip())}
    return where, installed


def check_tesseract(settings: Settings, report: Report) -> None:
    """Tesseract on this machine and its languages against ``settings.ocr_languages``.

    Only a problem where the settings deploy OCR workers (a module handling OCR types with
    at least one replica); otherwise its absence is noted and passes.
    """
    needed = sorted(set(settings.ocr_languages))
    ocr_deployed = any(
        OCR_TYPES & set(module.types) and module.replicas > 0 for module in settings.modules
    )
    binary = shutil.which("tesseract")
    if binary is None:
        if ocr_deployed:
            report.problem(
                "tesseract",
                "Tesseract is not installed here, so OCR robots cannot run",
                "install it (`apt-get install tesseract-ocr "
                + " ".join(_apt_package(lang) for lang in needed)
                + "`), or deploy no OCR workers (ROBOFLEET_OCR_WORKERS=0)",
            )
        else:
            report.ok("tesseract", "not installed; no OCR module is deployed")
        return
    version_run = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S * 3
    )
    version = (
        (version_run.stdout or version_run.stderr).split("\n", 1)[0].removeprefix("tesseract ")
    )
    report.versions["Tesseract"] = version.strip()
    where, installed = tesseract_languages(binary)
    missing = [lang for lang in needed if lang not in installed]
    summary = f"Tesseract {version.strip()}, languages {', '.join(sorted(installed)) or 'none'}"
    if missing and ocr_deployed:
        names = ", ".join(missing)
        report.problem(
            "tesseract",
            f"Tesseract lacks the language{'s' if len(missing) > 1 else ''} {names} that "
            f"ROBOFLEET_OCR_LANGUAGES needs (installed in {where or 'its tessdata dir'}: "
            f"{', '.join(sorted(installed)) or 'none'})",
            f"install {'them' if len(missing) > 1 else 'it'} "
            f"(`apt-get install {' '.join(_apt_package(lang) for lang in missing)}`) or put "
            f"{', '.join(lang + '.traineddata' for lang in missing)} into "
            f"{where or 'TESSDATA_PREFIX'}, or drop {names} from ROBOFLEET_OCR_LANGUAGES",
        )
        return
    report.ok("tesseract", f"{summary} (needed: {', '.join(needed)})")


# -- disk ----------------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(label: str, path: Path, report: Report) -> None:
    """Free space on the filesystem holding ``path`` (or its nearest existing parent)."""
    usage = shutil.disk_usage(_existing(path))
    free_gib = usage.free / 1024**3
    share = usage.free / usage.total if usage.total else 0.0
    where = f"{label} {path}" + ("" if path.expanduser().exists() else " (not created yet)")
    found = f"{where}: {free_gib:.1f} GiB free ({share:.0%} of {usage.total / 1024**3:.0f} GiB)"
    if usage.free < MIN_FREE_BYTES or share < MIN_FREE_FRACTION:
        report.problem(
            "disk",
            found,
            "free space there (old documents, old backups: `robofleet backup prune`) or move "
            f"the {label} to a larger disk; robofleet needs at least 1 GiB and 5% free",
        )
        return
    report.ok("disk", found)


# -- notifications -------------------------------------------------------------------------


def check_notify(notify: dict[str, Any], report: Report) -> None:
    """The webhook endpoints and the dead letter of the gateway's ``/readyz`` document
    (``details.notify``): an endpoint whose ``secrets_env`` is unset (every delivery to it
    goes dead), one a 410 disabled, and deliveries waiting in the dead letter."""
    webhooks = notify.get("webhooks") or []
    fine = []
    for hook in webhooks:
        name = hook["name"]
        if not hook.get("secret", True):
            report.problem(
                "notifications",
                f"webhook {name}: its secrets_env is not set where robofleet up runs, so every "
                "delivery to it goes dead",
                "set that variable (named in [notify] webhooks) in the environment of "
                "`robofleet up` and restart it; then replay the dead deliveries "
                "(`robofleet notifications dead`, `robofleet notifications replay ID`)",
            )
        elif hook.get("disabled"):
            report.problem(
                "notifications",
                f"webhook {name} is disabled: {hook['disabled']}",
                f"when its receiver takes deliveries again, `robofleet notifications enable "
                f"{name}`; until then its deliveries go dead",
            )
        else:
            fine.append(name)
    dead = notify.get("dead")
    if dead:
        report.problem(
            "notifications",
            f"{dead} deliver{'y' if dead == 1 else 'ies'} in the dead letter",
            "read why (`robofleet notifications dead`), fix the receiver or the config, then "
            "`robofleet notifications replay ID` each one",
        )
    if fine:
        report.ok("notifications", f"webhooks ok: {', '.join(fine)}")
    elif not webhooks and dead == 0:
        report.ok("notifications", "no webhook endpoints, dead letter empty")


# -- versions ------------------------------------------------------------------------------


def local_versions(report: Report) -> None:
    """Python, Ray and robofleet as installed where doctor runs."""
    import ray

    report.versions["python"] = platform.python_version()
    report.versions["ray"] = ray.__version__
    try:
        report.versions["robofleet"] = metadata.version("robofleet")
    except metadata.PackageNotFoundError:
        report.versions["robofleet"] = "not installed"
