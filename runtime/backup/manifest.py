"""The manifest of one backup: what store it holds, how many robots, and each file's SHA-256.

A backup is a directory ``<backups>/<id>/`` holding its files and ``manifest.json``; a backup
being written lives under ``<backups>/.partial-<id>/`` and is renamed when complete, so a
listing never sees half a backup. ``verification.json`` beside the manifest records the last
:func:`runtime.backup.verify.verify_backup` of it (kept apart, so verifying never changes what
the manifest's checksums cover).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.errors import BackupError, BackupInvalid

MANIFEST_NAME = "manifest.json"
VERIFICATION_NAME = "verification.json"
LAST_VERIFIED_NAME = "last_verified.json"
"""In the backups directory: the newest successful verification, read by ``/metrics``."""
PARTIAL_PREFIX = ".partial-"
FORMAT = 1

StoreKind = Literal["sqlite", "postgres"]


class BackupFile(BaseModel):
    """One file of a backup: its name inside the backup directory, size in bytes, SHA-256."""

    model_config = ConfigDict(extra="forbid")

    name: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")


class BaseBackupInfo(BaseModel):
    """A PostgreSQL base backup (``pg_basebackup``) for point-in-time recovery."""

    model_config = ConfigDict(extra="forbid")

    started_at: float = Field(description="Epoch seconds before pg_basebackup started.")
    finished_at: float = Field(description="Epoch seconds after it finished: the earliest "
                               "time a point-in-time restore from it can reach.")
    files: list[str] = Field(description="Its tar files, among the backup's files.")
    start_wal: str | None = Field(
        None, description="The first WAL segment it needs: older archived WAL can go."
    )


class Manifest(BaseModel):
    """Everything a backup claims about itself; ``manifest.json`` of the backup directory."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    id: str
    kind: StoreKind
    created_at: float = Field(description="Epoch seconds when the backup began.")
    finished_at: float = Field(description="Epoch seconds when its files were complete.")
    schema_version: int = Field(description="Newest applied store migration.")
    robots_by_status: dict[str, int]
    source: str = Field(description="The SQLite file or the DSN, password masked.")
    files: list[BackupFile]
    base_backup: BaseBackupInfo | None = None

    @property
    def robots_total(self) -> int:
        """Robots in the backup, whatever their status."""
        return sum(self.robots_by_status.values())


class Verification(BaseModel):
    """The outcome of one verification of a backup; ``verification.json``."""

    model_config = ConfigDict(extra="forbid")

    backup_id: str
    verified_at: float
    ok: bool
    checks: list[str] = Field(description="What was checked, one line each.")
    problem: str | None = Field(None, description="Why it failed, when it did.")
    seconds: float = Field(description="How long the verification took.")


def new_backup_id(kind: StoreKind, at: float | None = None) -> str:
    """A backup id that sorts by time: ``20261201T021500Z-sqlite`` (UTC, second precision)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return f"{moment:%Y%m%dT%H%M%S}Z-{kind}"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_file(directory: Path, name: str) -> BackupFile:
    """A :class:`BackupFile` for ``directory/name`` as it is on disk now."""
    path = directory / name
    return BackupFile(name=name, bytes=path.stat().st_size, sha256=sha256_file(path))


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` of a backup directory (atomically)."""
    _write_json(directory / MANIFEST_NAME, manifest.model_dump_json(indent=2))


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a backup directory.

    Raises :class:`BackupInvalid` when it is missing or not a valid manifest.
    """
    path = directory / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise BackupInvalid(f"backup {directory.name}: {MANIFEST_NAME} is missing") from exc
    except (OSError, ValidationError, ValueError) as exc:
        raise BackupInvalid(f"backup {directory.name}: unreadable {MANIFEST_NAME}") from exc


def read_verification(directory: Path) -> Verification | None:
    """The last recorded verification of a backup directory, or None."""
    try:
        return Verification.model_validate_json((directory / VERIFICATION_NAME).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def record_verification(backups: Path, directory: Path, outcome: Verification) -> None:
    """Record a verification beside the manifest, and as the newest success of ``backups``."""
    _write_json(directory / VERIFICATION_NAME, outcome.model_dump_json(indent=2))
    if outcome.ok:
        newest = last_verified_at(backups) or 0.0
        if outcome.verified_at >= newest:
            body = {"backup_id": outcome.backup_id, "verified_at": outcome.verified_at}
            _write_json(backups / LAST_VERIFIED_NAME, json.dumps(body))


def last_verified_at(backups: Path) -> float | None:
    """Epoch seconds of the newest successful verification in ``backups``, or None.

    One small file read, cheap enough for every ``/metrics`` scrape.
    """
    try:
        value = json.loads((backups / LAST_VERIFIED_NAME).read_bytes())["verified_at"]
        return float(value)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def backup_dirs(backups: Path) -> list[Path]:
    """Directories of complete backups in ``backups``, oldest first (ids sort by time)."""
    if not backups.is_dir():
        return []
    return sorted(
        p
        for p in backups.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != "wal"
    )


def find_backup(backups: Path, backup_id: str | None) -> Path:
    """The directory of backup ``backup_id`` (None or ``latest``: the newest).

    Raises :class:`BackupError` when there is no such backup.
    """
    found = backup_dirs(backups)
    if backup_id in (None, "latest"):
        if not found:
            raise BackupError(f"no backups in {backups}")
        return found[-1]
    assert backup_id is not None
    path = backups / backup_id
    if not backup_id or "/" in backup_id or backup_id.startswith(".") or not path.is_dir():
        raise BackupError(f"no backup {backup_id!r} in {backups} (see `robofleet backup list`)")
    return path


def _write_json(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
