"""Backups without services: manifests, retention, SQLite verification, DSN masking, metric."""

from __future__ import annotations

import asyncio
import gzip
import json
import pickle
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.backup_metrics import backup_metrics_text
from runtime.backup import create_backup, find_backup, list_backups, prune, verify_backup
from runtime.backup.manifest import (
    BackupFile,
    Manifest,
    new_backup_id,
    read_manifest,
    write_manifest,
)
from runtime.backup.pg_tools import mask_dsn, split_password
from runtime.backup.restore import restore_backup
from runtime.backup.retention import BackupStamp, to_keep
from runtime.backup.verify import check_files
from runtime.config import Settings
from runtime.errors import BackupError, BackupInvalid, RestoreRefused
from runtime.models import Robot, new_robot_id
from runtime.store import SqliteStore

DAY = 86_400.0


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- manifest --------------------------------------------------------------------------


def test_backup_ids_sort_by_time_and_name_the_store() -> None:
    first = new_backup_id("sqlite", _at("2026-12-01T02:15:00"))
    later = new_backup_id("postgres", _at("2026-12-02T00:00:00"))
    assert first == "20261201T021500Z-sqlite"
    assert sorted([later, first]) == [first, later]


def test_a_manifest_round_trips_and_a_broken_one_is_invalid(tmp_path: Path) -> None:
    manifest = Manifest(
        id="20261201T021500Z-sqlite", kind="sqlite", created_at=1.0, finished_at=2.0,
        schema_version=2, robots_by_status={"queued": 3, "succeeded": 4}, source="/x.db",
        files=[BackupFile(name="robofleet.db.gz", bytes=10, sha256="0" * 64)],
    )
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert manifest.robots_total == 7
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BackupInvalid, match="unreadable manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(BackupInvalid, match="manifest.json is missing"):
        read_manifest(tmp_path)


def test_backup_errors_survive_pickling() -> None:
    for error in (BackupError("a"), BackupInvalid("b"), RestoreRefused("c")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


# -- retention -------------------------------------------------------------------------


def _daily(days: int, start: str = "2026-11-01T03:00:00", verified: set[int] | None = None
           ) -> list[BackupStamp]:
    base = _at(start)
    return [BackupStamp(f"b{i:02d}", base + i * DAY, i in (verified or set())) for i in
            range(days)]


def test_retention_keeps_the_newest_per_day_and_per_week() -> None:
    stamps = _daily(30)  # 2026-11-01 .. 2026-11-30, one a day
    keep = to_keep(stamps, keep_daily=7, keep_weekly=4)
    daily = {f"b{i:02d}" for i in range(23, 30)}
    # Newest of each ISO week: Sundays 11-29 (b28), 11-22 (b21), 11-15 (b14), and 11-30 (b29).
    weekly = {"b29", "b28", "b21", "b14"}
    assert keep == daily | weekly


def test_retention_keeps_the_newest_of_several_backups_a_day() -> None:
    base = _at("2026-11-30T00:00:00")
    stamps = [BackupStamp(f"h{h:02d}", base + h * 3600, False) for h in range(24)]
    assert to_keep(stamps, keep_daily=1, keep_weekly=0) == {"h23"}


def test_retention_never_drops_the_newest_verified_backup() -> None:
    stamps = _daily(20, verified={2})
    keep = to_keep(stamps, keep_daily=3, keep_weekly=0)
    assert keep == {"b17", "b18", "b19", "b02"}


def test_retention_with_nothing_to_keep_still_keeps_the_newest() -> None:
    assert to_keep(_daily(5), keep_daily=0, keep_weekly=0) == {"b04"}
    assert to_keep([], keep_daily=7, keep_weekly=4) == set()


# -- SQLite backups, verify, restore, prune ----------------------------------------------


async def _store_with_robots(data_dir: Path, n: int) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(data_dir / "robofleet.db")
    await store.open()
    robots = [Robot(id=new_robot_id(), type="echo", payload={"i": i}) for i in range(n)]
    await store.create_robots(robots)
    await store.close()
    return [r.id for r in robots]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of a SQLite deployment in ``tmp_path/data`` with one backup taken."""
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    asyncio.run(_store_with_robots(settings.data_dir, 40))
    create_backup(settings)
    return settings


def test_a_sqlite_backup_verifies_and_records_it(settings: Settings) -> None:
    backups = settings.backups_dir()
    directory = find_backup(backups, None)
    manifest = read_manifest(directory)
    assert manifest.kind == "sqlite" and manifest.robots_by_status == {"queued": 40}
    assert manifest.schema_version >= 2
    with gzip.open(directory / "robofleet.db.gz") as packed:
        assert packed.read(15) == b"SQLite format 3"
    outcome = verify_backup(backups, directory)
    assert outcome.ok, outcome.problem
    assert any("integrity_check: ok" in c for c in outcome.checks)
    assert list_backups(backups)[0].verified
    text = backup_metrics_text(backups).decode()
    assert f"robofleet_backup_last_verified_timestamp_seconds {outcome.verified_at!r}" in text


def test_the_metric_is_zero_when_nothing_was_ever_verified(tmp_path: Path) -> None:
    assert "robofleet_backup_last_verified_timestamp_seconds 0.0\n" in \
        backup_metrics_text(tmp_path / "none").decode()


def test_verify_names_a_flipped_byte_a_missing_file_and_a_wrong_count(
    settings: Settings,
) -> None:
    backups = settings.backups_dir()
    good = find_backup(backups, None)
    manifest = read_manifest(good)
    cases = {}
    for case in ("flipped", "missing", "count"):
        copy = backups / f"{good.name}-{case}"
        shutil.copytree(good, copy)
        cases[case] = copy
    data = bytearray((cases["flipped"] / "robofleet.db.gz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (cases["flipped"] / "robofleet.db.gz").write_bytes(bytes(data))
    (cases["missing"] / "robofleet.db.gz").unlink()
    write_manifest(cases["count"], manifest.model_copy(update={"robots_by_status": {"queued": 41}}))

    problems = {case: verify_backup(backups, path).problem for case, path in cases.items()}
    assert problems["flipped"] == "file robofleet.db.gz does not match its SHA-256"
    assert problems["missing"] == "file robofleet.db.gz is missing"
    assert problems["count"] is not None and "differ from the manifest" in problems["count"]
    with pytest.raises(BackupInvalid):
        check_files(cases["flipped"], read_manifest(cases["flipped"]))


def test_a_corrupt_snapshot_with_matching_checksums_fails_integrity(settings: Settings) -> None:
    backups = settings.backups_dir()
    directory = find_backup(backups, None)
    scratch = directory / "plain.db"
    with gzip.open(directory / "robofleet.db.gz") as packed:
        scratch.write_bytes(packed.read())
    with sqlite3.connect(scratch) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'robots_status_id'"
        ).fetchone()[0]
    conn.close()
    raw = bytearray(scratch.read_bytes())
    raw[(page - 1) * page_size : page * page_size] = b"\x00" * page_size  # wipe an index
    with gzip.open(directory / "robofleet.db.gz", "wb") as packed:
        packed.write(bytes(raw))
    scratch.unlink()
    manifest = read_manifest(directory)
    from runtime.backup.manifest import describe_file

    write_manifest(directory, manifest.model_copy(
        update={"files": [describe_file(directory, "robofleet.db.gz")]}))
    outcome = verify_backup(backups, directory)
    assert not outcome.ok
    assert outcome.problem is not None and "integrity_check" in outcome.problem


def test_restore_refuses_a_store_with_robots_without_force(settings: Settings, tmp_path: Path
                                                           ) -> None:
    directory = find_backup(settings.backups_dir(), None)
    with pytest.raises(RestoreRefused, match="is not empty"):
        restore_backup(directory, data_dir=settings.data_dir)
    fresh = tmp_path / "fresh"
    found = restore_backup(directory, data_dir=fresh)
    assert found.robots_by_status == {"queued": 40}
    (fresh / "robofleet.db-wal").write_bytes(b"stale")
    again = restore_backup(directory, data_dir=fresh, force=True)
    assert again.robots_by_status == {"queued": 40}
    assert not (fresh / "robofleet.db-wal").exists()
    with sqlite3.connect(fresh / "robofleet.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_prune_keeps_the_newest_verified_and_leaves_unknown_directories(
    settings: Settings,
) -> None:
    backups = settings.backups_dir()
    first = find_backup(backups, None)
    assert verify_backup(backups, first).ok
    manifest = read_manifest(first)
    for days in (1, 2, 3):  # three newer, unverified backups on later days
        later = manifest.model_copy(update={"id": f"{first.name}-{days}",
                                            "created_at": manifest.created_at + days * DAY})
        copy = backups / later.id
        shutil.copytree(first, copy)
        (copy / "verification.json").unlink()
        write_manifest(copy, later)
    (backups / "not-a-backup").mkdir()
    removed = prune(backups, keep_daily=1, keep_weekly=0)
    assert removed == [f"{first.name}-1", f"{first.name}-2"]
    left = {e.id for e in list_backups(backups)}
    assert left == {first.name, f"{first.name}-3", "not-a-backup"}
    assert json.loads((backups / "last_verified.json").read_text())["backup_id"] == first.name


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no SQLite store at"):
        create_backup(Settings(data_dir=tmp_path / "empty", database_url=None))
    assert not any((tmp_path / "empty" / "backups").iterdir())
    with pytest.raises(BackupError, match="no backups in"):
        find_backup(tmp_path / "empty" / "backups", None)
    with pytest.raises(BackupError, match="no backup 'x'"):
        find_backup(tmp_path, "x")


# -- DSNs ------------------------------------------------------------------------------


def test_dsns_are_printed_without_their_password() -> None:
    dsn = "postgresql://robo:s3cr%40t@db.example:5433/fleet"
    assert mask_dsn(dsn) == "postgresql://robo:***@db.example:5433/fleet"
    assert split_password(dsn) == ("postgresql://robo@db.example:5433/fleet", "s3cr@t")
    assert mask_dsn("postgresql://postgres@127.0.0.1/test") == \
        "postgresql://postgres@127.0.0.1/test"


# -- WAL archive and schedule ----------------------------------------------------------


def test_wal_segment_names_follow_postgresql() -> None:
    from runtime.backup.pitr import segment_name

    assert segment_name(1, "0/2000028") == "000000010000000000000002"
    assert segment_name(1, "1/FF000000") == "0000000100000001000000FF"
    assert segment_name(3, "A/1000") == "000000030000000A00000000"


def test_prune_wal_keeps_what_the_oldest_base_backup_needs(tmp_path: Path) -> None:
    from runtime.backup.pitr import prune_wal

    names = ["000000010000000000000001", "000000010000000000000002",
             "000000010000000000000003", "000000010000000000000004.partial",
             "00000002.history", "README"]
    for name in names:
        (tmp_path / name).write_text("x")
    assert prune_wal(tmp_path, "000000010000000000000003") == 2
    assert {p.name for p in tmp_path.iterdir()} == set(names[2:])


def test_the_schedule_is_due_one_interval_after_the_newest_backup(settings: Settings) -> None:
    from runtime.backup import BackupSchedule
    from runtime.backup.schedule import FIRST_BACKUP_AFTER_S

    newest = read_manifest(find_backup(settings.backups_dir(), None))
    schedule = BackupSchedule(settings)
    assert schedule.due_at() == newest.created_at + settings.backup_interval_s
    empty = Settings(data_dir=settings.data_dir / "none", database_url=None,
                     backup_interval_s=60)
    fresh = BackupSchedule(empty)
    assert fresh.due_at() <= fresh._started + min(60, FIRST_BACKUP_AFTER_S)
    assert not BackupSchedule(empty.model_copy(update={"backup_interval_s": 0})).start()


def test_a_backup_cycle_takes_verifies_and_prunes(settings: Settings) -> None:
    from runtime.backup import backup_cycle

    tight = settings.model_copy(update={"backup_keep_daily": 1, "backup_keep_weekly": 0})
    outcome = backup_cycle(tight)
    assert outcome.ok
    entries = list_backups(settings.backups_dir())
    assert [e.id for e in entries] == [outcome.backup_id]  # the older, unverified one pruned


# -- the command line ------------------------------------------------------------------


def test_backup_commands_fail_with_one_line_and_exit_code_1(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cluster.cli import main

    data = str(settings.data_dir)
    monkeypatch.setenv("ROBOFLEET_DATA_DIR", data)  # the deployment the backups are of
    assert main(["backup", "restore", "--data-dir", data]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {settings.data_dir / 'robofleet.db'} is not empty: restore into a " \
        "fresh data dir, or add --force to replace it\n"
    assert main(["backup", "verify", "nope", "--data-dir", data]) == 1
    assert capsys.readouterr().err.startswith("error: no backup 'nope' in ")
    assert main(["backup", "restore", "--to-time", "yesterday", "--data-dir", data]) == 1
    assert capsys.readouterr().err == (
        "error: invalid time 'yesterday': use e.g. 2026-12-01T02:30:00Z\n"
    )
    assert main(["backup", "list", "--data-dir", data]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["backup", "verify", "", "--data-dir", data]) == 1
    assert capsys.readouterr().err.startswith("error: no backup '' in ")


def test_a_restore_into_a_fresh_data_dir_takes_the_configured_deployments_backups(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cluster.cli import main

    monkeypatch.setenv("ROBOFLEET_DATA_DIR", str(settings.data_dir))
    fresh = tmp_path / "fresh"
    assert main(["backup", "restore", "--data-dir", str(fresh)]) == 0
    with sqlite3.connect(fresh / "robofleet.db") as conn:
        assert conn.execute("SELECT count(*) FROM robots").fetchone()[0] == 40


def test_restore_times_read_iso_8601_and_epoch_seconds() -> None:
    from cluster.backup_cli import parse_time

    assert parse_time("2026-12-01T02:30:00Z") == _at("2026-12-01T02:30:00")
    assert parse_time("2026-12-01T03:30:00+01:00") == _at("2026-12-01T02:30:00")
    assert parse_time("1796092200.5") == 1796092200.5


def test_a_restore_leaves_no_side_files_of_its_staged_copy(
    settings: Settings, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    restore_backup(find_backup(settings.backups_dir(), None), data_dir=fresh)
    assert sorted(p.name for p in fresh.iterdir()) == ["robofleet.db"]


def test_postgresql_only_options_say_so_on_a_sqlite_deployment(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cluster.cli import main

    data = str(settings.data_dir)
    monkeypatch.setenv("ROBOFLEET_DATA_DIR", data)
    before = sorted(p.name for p in settings.backups_dir().iterdir())
    assert main(["backup", "create", "--base", "--data-dir", data]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --base") and "PostgreSQL-only" in err and "SQLite" in err
    assert sorted(p.name for p in settings.backups_dir().iterdir()) == before
    restore = ["backup", "restore", "--to-time", "2026-12-01T02:30:00Z", "--pg-data-dir", data]
    assert main(restore) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --to-time") and "PostgreSQL-only" in err and "SQLite" in err
    assert err.count("\n") == 1
