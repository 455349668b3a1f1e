"""Prove a backup: its files are all there with their checksums, and it restores into a
scratch store that passes an integrity check and holds the robots its manifest counts."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from runtime.backup.manifest import (
    Manifest,
    Verification,
    read_manifest,
    record_verification,
    sha256_file,
)
from runtime.backup.postgres_dump import DUMP_NAME, prove_dump
from runtime.backup.sqlite_snapshot import (
    SNAPSHOT_NAME,
    StoreFigures,
    check_sqlite,
    unpack_snapshot,
)
from runtime.errors import BackupError, BackupInvalid


def check_files(directory: Path, manifest: Manifest) -> str:
    """Check every file the manifest lists: present, of its size and SHA-256.

    Returns a one-line summary; raises :class:`BackupInvalid` naming the first bad file.
    """
    for entry in manifest.files:
        path = directory / entry.name
        if not path.is_file():
            raise BackupInvalid(f"file {entry.name} is missing")
        size = path.stat().st_size
        if size != entry.bytes:
            raise BackupInvalid(
                f"file {entry.name} has {size} bytes, the manifest says {entry.bytes}"
            )
        if sha256_file(path) != entry.sha256:
            raise BackupInvalid(f"file {entry.name} does not match its SHA-256")
    total = sum(f.bytes for f in manifest.files)
    return f"{len(manifest.files)} files present, sizes and SHA-256 match ({total} bytes)"


def compare_figures(manifest: Manifest, found: StoreFigures) -> str:
    """Check restored figures against the manifest; raise :class:`BackupInvalid` if they differ."""
    if found.schema_version != manifest.schema_version:
        raise BackupInvalid(
            f"restored schema version {found.schema_version}, manifest says "
            f"{manifest.schema_version}"
        )
    if found.robots_by_status != manifest.robots_by_status:
        raise BackupInvalid(
            f"restored robot counts {found.robots_by_status} differ from the manifest's "
            f"{manifest.robots_by_status}"
        )
    return f"robot counts match the manifest ({sum(found.robots_by_status.values())} robots)"


def _prove_sqlite(directory: Path, scratch_root: Path) -> tuple[StoreFigures, list[str]]:
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".verify-", dir=scratch_root))
    try:
        db = scratch / "robofleet.db"
        unpack_snapshot(directory / SNAPSHOT_NAME, db)
        answer, found = check_sqlite(db)
        if answer != "ok":
            raise BackupInvalid(f"PRAGMA integrity_check on the restored copy: {answer}")
        return found, ["restored into a scratch SQLite file; PRAGMA integrity_check: ok"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify_backup(
    backups: Path,
    directory: Path,
    scratch_dsn: str | None = None,
    bin_dir: Path | None = None,
    record: bool = True,
) -> Verification:
    """Verify one backup and (with ``record``) record the outcome; return it.

    A backup that fails a check is answered with ``ok=False`` and the problem. PostgreSQL
    backups are restored into a scratch database created (and dropped) on the server of
    ``scratch_dsn``. Raises :class:`BackupError` only when the check itself cannot run
    (e.g. no PostgreSQL server for the scratch database).
    """
    started = time.monotonic()
    checks: list[str] = []
    problem: str | None = None
    try:
        manifest = read_manifest(directory)
        checks.append(check_files(directory, manifest))
        if manifest.kind == "sqlite":
            found, more = _prove_sqlite(directory, backups)
        else:
            if scratch_dsn is None:
                raise BackupError(
                    "verifying a PostgreSQL backup needs a server for the scratch database: "
                    "set ROBOFLEET_DATABASE_URL"
                )
            found, more = asyncio.run(prove_dump(directory / DUMP_NAME, scratch_dsn, bin_dir))
        checks.extend(more)
        checks.append(compare_figures(manifest, found))
    except BackupInvalid as exc:
        problem = str(exc)
    outcome = Verification(
        backup_id=directory.name,
        verified_at=time.time(),
        ok=problem is None,
        checks=checks,
        problem=problem,
        seconds=round(time.monotonic() - started, 3),
    )
    if record:
        record_verification(backups, directory, outcome)
    return outcome
