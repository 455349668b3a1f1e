"""The backup timer of ``robofleet up``: take, verify and prune a backup every interval.

A simple timer until robofleet has a scheduler of its own. The next backup is due one
interval after the newest one in the backups directory (so restarting ``up`` does not take
an extra one); with no backup yet, ten minutes after start (or one interval, if shorter).
With ``backup_pitr`` on PostgreSQL it also keeps ``pg_receivewal`` streaming.
"""

from __future__ import annotations

import logging
import threading
import time

from runtime.backup.catalog import list_backups, prune
from runtime.backup.create import create_backup
from runtime.backup.manifest import Verification, find_backup
from runtime.backup.pitr import WAL_DIR_NAME, WalArchive
from runtime.backup.verify import verify_backup
from runtime.config import Settings

log = logging.getLogger(__name__)

FIRST_BACKUP_AFTER_S = 600.0


def backup_cycle(settings: Settings) -> Verification:
    """One scheduled round: create a backup, verify it, prune by retention; the verification."""
    manifest = create_backup(settings)
    backups = settings.backups_dir()
    outcome = verify_backup(
        backups, find_backup(backups, manifest.id), settings.database_url, settings.pg_bin_dir
    )
    prune(backups, settings.backup_keep_daily, settings.backup_keep_weekly)
    return outcome


class BackupSchedule:
    """A daemon thread running :func:`backup_cycle` every ``settings.backup_interval_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.time()
        self.wal: WalArchive | None = None

    def due_at(self) -> float:
        """Epoch seconds when the next backup is due."""
        interval = self.settings.backup_interval_s
        entries = [e for e in list_backups(self.settings.backups_dir()) if e.manifest]
        if entries and entries[-1].manifest:
            return entries[-1].manifest.created_at + interval
        return self._started + min(interval, FIRST_BACKUP_AFTER_S)

    def start(self) -> bool:
        """Start the timer (and WAL streaming); False when ``backup_interval_s`` is 0."""
        if self.settings.database_url and self.settings.backup_pitr:
            self.wal = WalArchive(
                self.settings.database_url,
                self.settings.backups_dir() / WAL_DIR_NAME,
                self.settings.pg_bin_dir,
            )
            self.wal.start()
        if self.settings.backup_interval_s <= 0:
            return False
        self._thread = threading.Thread(target=self._run, name="robofleet-backups", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop the timer and WAL streaming (a backup under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=600)
        if self.wal is not None:
            self.wal.stop()

    def _run(self) -> None:
        while not self._stop.wait(min(max(self._seconds_left(), 0.1), 10.0)):
            try:
                if self.wal is not None and not self.wal.poll():
                    log.warning("pg_receivewal had stopped; restarted it")
            except Exception:
                log.exception("restarting pg_receivewal failed")
            if self._seconds_left() > 0:
                continue
            try:
                outcome = backup_cycle(self.settings)
                if outcome.ok:
                    log.info("backup %s taken and verified", outcome.backup_id)
                else:
                    log.error("backup %s failed verification: %s", outcome.backup_id,
                              outcome.problem)
            except Exception as exc:
                log.error("scheduled backup failed: %s", exc)
                self._started = time.time()  # try again after the first-backup delay

    def _seconds_left(self) -> float:
        try:
            return self.due_at() - time.time()
        except OSError:
            return self.settings.backup_interval_s
