"""Restore a logical backup (SQLite snapshot or pg_dump) into a fresh store.

Every file's checksum is checked first; a store that holds robots or keys, or that a
running robofleet uses, is replaced only with ``force``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.backup.manifest import read_manifest
from runtime.backup.pg_tools import mask_dsn
from runtime.backup.postgres_dump import DUMP_NAME, restore_postgres
from runtime.backup.sqlite_snapshot import (
    SNAPSHOT_NAME,
    StoreFigures,
    install_sqlite,
    sqlite_has_robots,
)
from runtime.backup.verify import check_files
from runtime.errors import BackupError, RestoreRefused


def restore_backup(
    directory: Path,
    data_dir: Path | None = None,
    dsn: str | None = None,
    force: bool = False,
    bin_dir: Path | None = None,
) -> StoreFigures:
    """Restore the backup in ``directory``; return the figures of the restored store.

    A SQLite backup goes to ``data_dir/robofleet.db``, a PostgreSQL one into the database
    of ``dsn`` (created when missing). Raises :class:`BackupInvalid` when the backup's files
    do not match its manifest, :class:`RestoreRefused` when the target holds data and
    ``force`` is false, :class:`BackupError` when the target is not given.
    """
    from runtime.store import SQLITE_FILE_NAME

    manifest = read_manifest(directory)
    check_files(directory, manifest)
    if manifest.kind == "sqlite":
        if data_dir is None:
            raise BackupError("a SQLite backup is restored into a data dir: give --data-dir")
        target = data_dir.expanduser() / SQLITE_FILE_NAME
        if sqlite_has_robots(target) and not force:
            raise RestoreRefused(
                f"{target} is not empty: restore into a fresh data dir, or add --force to "
                "replace it"
            )
        return install_sqlite(directory / SNAPSHOT_NAME, target)
    if dsn is None:
        raise BackupError(
            "a PostgreSQL backup is restored into a database: give --database-url"
        )
    try:
        return asyncio.run(restore_postgres(directory / DUMP_NAME, dsn, force, bin_dir))
    except RestoreRefused:
        raise
    except BackupError as exc:
        raise BackupError(f"restore into {mask_dsn(dsn)} failed: {exc}") from exc
