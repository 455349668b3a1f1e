"""The backups directory as a catalog: list the backups with their state, prune old ones."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from runtime.backup.manifest import (
    Manifest,
    Verification,
    backup_dirs,
    read_manifest,
    read_verification,
)
from runtime.backup.pitr import WAL_DIR_NAME, prune_wal
from runtime.backup.retention import BackupStamp, to_keep
from runtime.errors import BackupInvalid


@dataclass(frozen=True, slots=True)
class BackupEntry:
    """One backup directory: its manifest (None if unreadable) and last verification."""

    directory: Path
    manifest: Manifest | None
    verification: Verification | None
    problem: str | None = None

    @property
    def id(self) -> str:
        """The backup's id: its directory name."""
        return self.directory.name

    @property
    def verified(self) -> bool:
        """Whether its last verification succeeded."""
        return self.verification is not None and self.verification.ok


def list_backups(backups: Path) -> list[BackupEntry]:
    """Every backup in ``backups``, oldest first."""
    entries = []
    for directory in backup_dirs(backups):
        try:
            manifest: Manifest | None = read_manifest(directory)
            problem = None
        except BackupInvalid as exc:
            manifest, problem = None, str(exc)
        entries.append(BackupEntry(directory, manifest, read_verification(directory), problem))
    return entries


def prune(backups: Path, keep_daily: int, keep_weekly: int, dry_run: bool = False) -> list[str]:
    """Delete the backups retention does not keep; return their ids (oldest first).

    A directory without a readable manifest is never deleted: it is not known to be ours.
    Archived WAL older than the oldest kept base backup is deleted too.
    """
    entries = [e for e in list_backups(backups) if e.manifest is not None]
    stamps = [
        BackupStamp(e.id, e.manifest.created_at, e.verified) for e in entries if e.manifest
    ]
    keep = to_keep(stamps, keep_daily, keep_weekly)
    removed = [e.id for e in entries if e.id not in keep]
    if not dry_run:
        for backup_id in removed:
            shutil.rmtree(backups / backup_id)
        starts = [
            e.manifest.base_backup.start_wal
            for e in entries
            if e.id in keep and e.manifest and e.manifest.base_backup
            and e.manifest.base_backup.start_wal
        ]
        if starts:
            prune_wal(backups / WAL_DIR_NAME, min(s for s in starts if s))
    return removed
