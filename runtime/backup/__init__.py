"""Backups of the state store: take, list, verify, restore and prune them, on a timer too.

One concern per module: ``manifest`` (what a backup claims), ``sqlite_snapshot`` and
``postgres_dump`` (logical backups), ``pitr`` (base backup, WAL archive, restore to a time),
``create``, ``verify``, ``restore``, ``retention`` + ``catalog`` (list and prune) and
``schedule`` (the timer of ``robofleet up``).
"""

from __future__ import annotations

from runtime.backup.catalog import BackupEntry, list_backups, prune
from runtime.backup.create import create_backup
from runtime.backup.manifest import Manifest, Verification, find_backup, last_verified_at
from runtime.backup.restore import restore_backup
from runtime.backup.schedule import BackupSchedule, backup_cycle
from runtime.backup.verify import verify_backup

__all__ = [
    "BackupEntry",
    "BackupSchedule",
    "Manifest",
    "Verification",
    "backup_cycle",
    "create_backup",
    "find_backup",
    "last_verified_at",
    "list_backups",
    "prune",
    "restore_backup",
    "verify_backup",
]
