"""``robofleet backup create|list|verify|restore|prune|wal``: backups of the state store.

These commands work on the store and the backups directory directly (not through the
gateway): a backup must be restorable when nothing else of robofleet runs. Errors are one
line on stderr and exit code 1; DSNs are printed with their password masked.
"""

from __future__ import annotations

import argparse
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cluster import up_record
from runtime.backup import (
    create_backup,
    find_backup,
    list_backups,
    prune,
    restore_backup,
    verify_backup,
)
from runtime.backup.manifest import Verification, read_manifest
from runtime.backup.pg_tools import mask_dsn
from runtime.backup.pitr import WAL_DIR_NAME, WalArchive, restore_to_time
from runtime.backup.sqlite_snapshot import StoreFigures
from runtime.config import Settings, load_settings
from runtime.errors import BackupError, RestoreRefused

_POSTGRES_ONLY = (
    "{what} is PostgreSQL-only, and this deployment uses SQLite (no ROBOFLEET_DATABASE_URL): "
    "its backups are whole snapshots, restored with `robofleet backup restore [ID]`"
)


def _count(text: str) -> int:
    """A whole number of backups to keep, 0 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of backups (0 or more)")
    return value


def backup_settings(args: argparse.Namespace) -> Settings:
    """Settings of a backup command: config file, environment, then its flags."""
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir).expanduser()
    if getattr(args, "backup_dir", None):
        overrides["backup_dir"] = Path(args.backup_dir).expanduser()
    return load_settings(getattr(args, "config", None), **overrides)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _counts(figures: dict[str, int]) -> str:
    total = sum(figures.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(figures.items()))
    return f"{total} robots ({detail})" if detail else "0 robots"


def parse_time(text: str) -> float:
    """Epoch seconds of ``text``: ISO 8601 (no zone: this machine's local time) or seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"invalid time {text!r}: use e.g. 2026-12-01T02:30:00Z") from exc
    return moment.timestamp()


def _print_verification(outcome: Verification) -> None:
    for check in outcome.checks:
        print(f"  {check}")
    state = "verified" if outcome.ok else f"FAILED: {outcome.problem}"
    print(f"backup {outcome.backup_id}: {state} ({outcome.seconds:.2f}s)", flush=True)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    """Take a backup now (and verify it with ``--verify``)."""
    if args.base and not settings.database_url:
        raise BackupError(_POSTGRES_ONLY.format(what="--base (a base backup for --to-time)"))
    started = time.monotonic()
    manifest = create_backup(settings, base=True if args.base else None)
    size = sum(f.bytes for f in manifest.files)
    print(
        f"backup {manifest.id}: {manifest.kind}, schema {manifest.schema_version}, "
        f"{_counts(manifest.robots_by_status)}, {_size(size)} in {len(manifest.files)} files, "
        f"took {time.monotonic() - started:.2f}s",
        flush=True,
    )
    if args.verify:
        backups = settings.backups_dir()
        outcome = verify_backup(
            backups, find_backup(backups, manifest.id), settings.database_url,
            settings.pg_bin_dir,
        )
        _print_verification(outcome)
        return 0 if outcome.ok else 1
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """List the backups, oldest first, with their robots, size and verification."""
    entries = list_backups(settings.backups_dir())
    if not entries:
        print(f"no backups in {settings.backups_dir()}")
        return 0
    print(f"{'id':<28}{'kind':<10}{'robots':>8}{'size':>12}  {'PITR':<6}verified")
    for entry in entries:
        if entry.manifest is None:
            print(f"{entry.id:<28}{'?':<10}{'':>8}{'':>12}  {'':<6}unreadable: {entry.problem}")
            continue
        m = entry.manifest
        v = entry.verification
        state = "never" if v is None else (_utc(v.verified_at) if v.ok else f"FAILED: {v.problem}")
        pitr = "yes" if m.base_backup else "no"
        size = _size(sum(f.bytes for f in m.files))
        print(f"{entry.id:<28}{m.kind:<10}{m.robots_total:>8}{size:>12}  {pitr:<6}{state}")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Verify one backup (default: the newest), or every backup with ``--all``."""
    backups = settings.backups_dir()
    targets = (
        [e.directory for e in list_backups(backups)] if args.all
        else [find_backup(backups, args.id)]
    )
    if not targets:
        raise BackupError(f"no backups in {backups}")
    failed = 0
    for directory in targets:
        outcome = verify_backup(backups, directory, settings.database_url, settings.pg_bin_dir)
        _print_verification(outcome)
        failed += not outcome.ok
    return 1 if failed else 0


def _refuse_a_running_up(data_dir: Path) -> None:
    """Raise RestoreRefused while a ``robofleet up`` runs on ``data_dir``, --force or not:
    it would go on writing to the files a restore unlinks, and lose all it wrote after."""
    record = up_record.read(data_dir)
    if record is not None and record.up.find() is not None:
        raise RestoreRefused(
            f"robofleet up (pid {record.up.pid}) runs on {data_dir}: stop it with "
            f"`robofleet down --data-dir {data_dir}` first (not even --force replaces a "
            "store a running robofleet writes to)"
        )


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Restore a backup into a fresh data dir or database (or to a time, PostgreSQL).

    ``--data-dir`` names the target here, so the backups are found where the configured
    data dir keeps them (or at ``--backup-dir``), not inside the target.
    """
    source = backup_settings(argparse.Namespace(**{**vars(args), "data_dir": None}))
    backups = source.backups_dir()
    started = time.monotonic()
    if args.to_time is not None:
        target = parse_time(args.to_time)
        if not source.database_url:
            raise BackupError(_POSTGRES_ONLY.format(what="--to-time (point-in-time restore)"))
        return _restore_to_time(args, source, target)
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else settings.data_dir
    if not (args.database_url or settings.database_url):
        _refuse_a_running_up(data_dir.expanduser())
    directory = find_backup(backups, args.id)
    manifest = read_manifest(directory)
    if manifest.kind == "sqlite":
        _refuse_a_running_up(data_dir.expanduser())
        found: StoreFigures = restore_backup(directory, data_dir=data_dir, force=args.force)
        where = str(data_dir)
    else:
        dsn = args.database_url or settings.database_url
        found = restore_backup(directory, dsn=dsn, force=args.force, bin_dir=settings.pg_bin_dir)
        where = mask_dsn(dsn or "")
    print(
        f"restored backup {directory.name} into {where}: schema {found.schema_version}, "
        f"{_counts(found.robots_by_status)}; restore drill took "
        f"{time.monotonic() - started:.2f}s",
        flush=True,
    )
    return 0


def _restore_to_time(args: argparse.Namespace, settings: Settings, target: float) -> int:
    if not args.pg_data_dir:
        raise BackupError("--to-time restores a PostgreSQL server: give --pg-data-dir DIR")
    source = settings.database_url
    candidates = [
        e for e in list_backups(settings.backups_dir())
        if e.manifest and e.manifest.base_backup and e.manifest.base_backup.finished_at <= target
    ]
    if args.id not in (None, "latest"):
        candidates = [e for e in candidates if e.id == args.id]
    if not candidates:
        raise BackupError(
            f"no base backup finished before {_utc(target)}: point-in-time restore needs one "
            "(`robofleet backup create --base`, or ROBOFLEET_BACKUP_PITR=true)"
        )
    chosen = candidates[-1]
    assert chosen.manifest is not None and chosen.manifest.base_backup is not None
    if source is None:
        source = "postgresql://postgres@127.0.0.1/postgres"
    result = restore_to_time(
        chosen.directory,
        chosen.manifest.base_backup,
        settings.backups_dir() / WAL_DIR_NAME,
        target,
        Path(args.pg_data_dir).expanduser().resolve(),
        args.pg_port,
        source,
        force=args.force,
        bin_dir=settings.pg_bin_dir,
    )
    print(f"restored to {_utc(target)} from base backup {chosen.id} and archived WAL")
    if result.recovery_note:
        print(f"  recovery: {result.recovery_note}")
    print(f"  PostgreSQL runs on port {result.port}, data dir {result.data_dir}")
    print(f"  point robofleet at it: ROBOFLEET_DATABASE_URL={mask_dsn(result.dsn)}")
    print(f"restore drill took {result.seconds:.2f}s", flush=True)
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Delete backups that retention does not keep (never the newest verified one)."""
    daily = settings.backup_keep_daily if args.keep_daily is None else args.keep_daily
    weekly = settings.backup_keep_weekly if args.keep_weekly is None else args.keep_weekly
    removed = prune(settings.backups_dir(), daily, weekly, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for backup_id in removed:
        print(f"{verb} {backup_id}")
    print(f"{verb} {len(removed)} backups (keeping {daily} daily, {weekly} weekly)", flush=True)
    return 0


def cmd_wal(args: argparse.Namespace, settings: Settings) -> int:
    """Stream PostgreSQL's WAL into ``<backups>/wal`` until Ctrl-C (what ``up`` does with
    ``ROBOFLEET_BACKUP_PITR=true``)."""
    if not settings.database_url:
        raise BackupError("WAL archiving is for PostgreSQL: set ROBOFLEET_DATABASE_URL")
    archive = WalArchive(
        settings.database_url, settings.backups_dir() / WAL_DIR_NAME, settings.pg_bin_dir
    )
    archive.start()
    print(f"streaming WAL of {mask_dsn(settings.database_url)} into {archive.directory}; "
          "Ctrl-C stops", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(1.0)
            archive.poll()
    except KeyboardInterrupt:
        pass
    finally:
        archive.stop()
    return 0


def _interrupt(*_: Any) -> NoReturn:
    raise KeyboardInterrupt


_ACTIONS = {
    "create": cmd_create,
    "list": cmd_list,
    "verify": cmd_verify,
    "restore": cmd_restore,
    "prune": cmd_prune,
    "wal": cmd_wal,
}


def cmd_backup(args: argparse.Namespace) -> int:
    """Run one ``robofleet backup`` action."""
    return _ACTIONS[args.command_action](args, backup_settings(args))


def add_backup_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``robofleet backup`` and its actions to the command line."""
    backup = sub.add_parser("backup", help="create, list, verify, restore or prune backups")
    actions = backup.add_subparsers(dest="command_action", required=True)

    def common(p: argparse.ArgumentParser, data_dir_help: str = "data dir of the store") -> None:
        """The options every action takes, also given before the action (``backup
        --data-dir D list``)."""
        p.add_argument("--config", help="TOML settings file")
        p.add_argument("--data-dir", help=data_dir_help)
        p.add_argument("--backup-dir", help="backups directory (default: <data-dir>/backups)")
        p.set_defaults(func=cmd_backup)

    create = actions.add_parser("create", help="take a backup of the store now")
    create.add_argument("--base", action="store_true",
                        help="PostgreSQL: also take a base backup for --to-time restores")
    create.add_argument("--verify", action="store_true", help="verify it right away")
    common(create)
    common(actions.add_parser("list", help="list backups with robots, size, verification"))
    verify = actions.add_parser("verify", help="prove a backup by restoring it into scratch")
    verify.add_argument("id", nargs="?", help="backup id (default: the newest)")
    verify.add_argument("--all", action="store_true", help="verify every backup")
    common(verify)
    restore = actions.add_parser("restore", help="restore a backup into a fresh store")
    restore.add_argument("id", nargs="?", help="backup id (default: the newest)")
    restore.add_argument("--database-url", help="PostgreSQL: database to restore into "
                         "(default: ROBOFLEET_DATABASE_URL; created when missing)")
    restore.add_argument("--force", action="store_true",
                         help="replace a store that holds robots or is in use")
    restore.add_argument("--to-time", help="PostgreSQL point in time (ISO 8601 or epoch s)")
    restore.add_argument("--pg-data-dir", help="with --to-time: new PostgreSQL data directory")
    restore.add_argument("--pg-port", type=int, default=5433,
                         help="with --to-time: port of the restored server (default 5433)")
    common(restore, "SQLite: data dir to restore into (default: ROBOFLEET_DATA_DIR)")
    prune_parser = actions.add_parser("prune", help="delete backups retention does not keep")
    prune_parser.add_argument(
        "--keep-daily", type=_count, help="default: ROBOFLEET_BACKUP_KEEP_DAILY"
    )
    prune_parser.add_argument("--keep-weekly", type=_count,
                              help="default: ROBOFLEET_BACKUP_KEEP_WEEKLY")
    prune_parser.add_argument("--dry-run", action="store_true", help="only say what would go")
    common(prune_parser)
    common(actions.add_parser("wal", help="stream PostgreSQL WAL into <backups>/wal (Ctrl-C)"))
    common(backup)
