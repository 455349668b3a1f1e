"""Take one backup of the configured store into the backups directory.

The files are written under ``<backups>/.partial-<id>/``, the manifest last, and the
directory is renamed to ``<backups>/<id>/`` only when complete.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from runtime.backup.manifest import (
    PARTIAL_PREFIX,
    BaseBackupInfo,
    Manifest,
    StoreKind,
    describe_file,
    new_backup_id,
    write_manifest,
)
from runtime.backup.pg_tools import mask_dsn
from runtime.backup.pitr import base_backup
from runtime.backup.postgres_dump import DUMP_NAME, dump_postgres
from runtime.backup.sqlite_snapshot import SNAPSHOT_NAME, StoreFigures, snapshot_sqlite
from runtime.config import Settings
from runtime.errors import BackupError


def sqlite_path(settings: Settings) -> Path:
    """The SQLite store file of a deployment without a database URL."""
    from runtime.store import SQLITE_FILE_NAME

    return settings.data_dir.expanduser() / SQLITE_FILE_NAME


def create_backup(settings: Settings, base: bool | None = None) -> Manifest:
    """Back up the configured store now; return the manifest of the new backup.

    SQLite: an online snapshot, gzip-compressed. PostgreSQL: ``pg_dump -Fc``, plus a base
    backup for point-in-time recovery when ``base`` (default: ``settings.backup_pitr``).
    Raises :class:`BackupError` when the store cannot be read or a tool fails; nothing of a
    failed backup is left behind.
    """
    kind: StoreKind = "postgres" if settings.database_url else "sqlite"
    backups = settings.backups_dir()
    backups.mkdir(mode=0o700, parents=True, exist_ok=True)  # backups hold every key hash
    created = time.time()
    backup_id = new_backup_id(kind, created)
    while (backups / backup_id).exists():  # two backups in one second
        time.sleep(1.0)
        created = time.time()
        backup_id = new_backup_id(kind, created)
    partial = backups / f"{PARTIAL_PREFIX}{backup_id}"
    partial.mkdir()
    try:
        base_info: BaseBackupInfo | None = None
        if settings.database_url:
            dsn = settings.database_url
            if base if base is not None else settings.backup_pitr:
                base_info = base_backup(dsn, partial, settings.pg_bin_dir)
            found: StoreFigures = asyncio.run(dump_postgres(dsn, partial, settings.pg_bin_dir))
            names = [DUMP_NAME, *(base_info.files if base_info else [])]
            source = mask_dsn(dsn)
        else:
            found = snapshot_sqlite(sqlite_path(settings), partial)
            names = [SNAPSHOT_NAME]
            source = str(sqlite_path(settings))
        manifest = Manifest(
            id=backup_id,
            kind=kind,
            created_at=created,
            finished_at=time.time(),
            schema_version=found.schema_version,
            robots_by_status=found.robots_by_status,
            source=source,
            files=[describe_file(partial, name) for name in names],
            base_backup=base_info,
        )
        write_manifest(partial, manifest)
        partial.rename(backups / backup_id)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"backup {backup_id} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest
