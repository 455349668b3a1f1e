"""SQLite backups: an online snapshot through SQLite's backup API, gzip-compressed.

The snapshot is taken in one step of ``Connection.backup`` on a read connection: in WAL mode
that holds a read transaction, so robots keep being written while it runs and the copy is
the store as of one commit.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import BackupError, BackupInvalid

SNAPSHOT_NAME = "robofleet.db.gz"
_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What a store holds: its schema version and its robots counted by status."""

    schema_version: int
    robots_by_status: dict[str, int]


@contextlib.contextmanager
def _connect(path: Path, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open SQLite file {path}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def figures(conn: sqlite3.Connection) -> StoreFigures:
    """Schema version and robot counts by status of an open robofleet SQLite database."""
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        rows = conn.execute("SELECT status, COUNT(*) FROM robots GROUP BY status").fetchall()
    except sqlite3.Error as exc:
        raise BackupInvalid(f"not a robofleet store: {exc}") from exc
    return StoreFigures(int(version or 0), {str(s): int(n) for s, n in rows})


def snapshot_sqlite(db_path: Path, out_dir: Path, level: int = 6) -> StoreFigures:
    """Copy the live store ``db_path`` into ``out_dir/robofleet.db.gz``; return its figures.

    Raises :class:`BackupError` when the store is missing or cannot be read.
    """
    if not db_path.is_file():
        raise BackupError(f"no SQLite store at {db_path}")
    copy = out_dir / "robofleet.db.snapshot"
    try:
        with _connect(db_path, read_only=True) as source, _connect(copy) as target:
            source.backup(target)  # all pages in one step: one consistent read transaction
            found = figures(target)
        with copy.open("rb") as raw, gzip.open(out_dir / SNAPSHOT_NAME, "wb", level) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {db_path} failed: {exc}") from exc
    finally:
        copy.unlink(missing_ok=True)
    return found


def unpack_snapshot(snapshot: Path, target: Path) -> None:
    """Decompress a snapshot to the file ``target`` (replaced if it exists).

    Raises :class:`BackupInvalid` when the snapshot is not a readable gzip file.
    """
    try:
        with gzip.open(snapshot, "rb") as packed, target.open("wb") as raw:
            shutil.copyfileobj(packed, raw, 1 << 20)
    except (OSError, EOFError) as exc:
        target.unlink(missing_ok=True)
        raise BackupInvalid(f"{snapshot.name} cannot be decompressed: {exc}") from exc


def check_sqlite(db_path: Path) -> tuple[str, StoreFigures]:
    """``PRAGMA integrity_check``'s answer (``ok`` when sound) and the figures of a file."""
    with _connect(db_path, read_only=True) as conn:
        try:
            answer = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
        except sqlite3.DatabaseError as exc:
            return f"{exc}", StoreFigures(0, {})
        return answer, figures(conn)


def sqlite_has_robots(db_path: Path) -> bool:
    """Whether the SQLite file exists and holds at least one robot or API key."""
    if not db_path.exists():
        return False
    with _connect(db_path, read_only=True) as conn:
        try:
            robots = conn.execute("SELECT EXISTS (SELECT 1 FROM robots)").fetchone()[0]
            keys = conn.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0]
        except sqlite3.Error:
            return db_path.stat().st_size > 0
    return bool(robots or keys)


def install_sqlite(snapshot: Path, db_path: Path) -> StoreFigures:
    """Restore a snapshot as the store file ``db_path``, replacing it and its WAL files.

    The snapshot is decompressed and checked beside the target first, so a bad snapshot
    leaves the old store as it was. Raises :class:`BackupInvalid` when it is not sound.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staged = db_path.with_name(f".{db_path.name}.restoring")
    unpack_snapshot(snapshot, staged)
    try:
        answer, found = check_sqlite(staged)
    finally:  # reading a WAL-mode file leaves its -shm (and -wal) beside it
        _drop_side_files(staged)
    if answer != "ok":
        staged.unlink(missing_ok=True)
        raise BackupInvalid(f"{snapshot.name} fails PRAGMA integrity_check: {answer}")
    _drop_side_files(db_path)  # a stale WAL beside the new file would be replayed into it
    staged.replace(db_path)
    return found


def _drop_side_files(db_path: Path) -> None:
    """Delete the ``-wal``, ``-shm`` and ``-journal`` files of ``db_path`` if there are any."""
    for suffix in _SIDE_FILES:
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
