"""Checks on what the store recorded, read straight from the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

TERMINAL = ("succeeded", "failed", "cancelled", "dead")


def query(db_path: Path, sql: str, *args: object) -> list[tuple]:
    """Run a read-only query against the store."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def assert_single_outcomes(db_path: Path) -> None:
    """No robot has two recorded terminal outcomes."""
    doubles = query(
        db_path,
        "SELECT robot_id, COUNT(*) FROM attempts WHERE status IN (?, ?, ?, ?) "
        "GROUP BY robot_id HAVING COUNT(*) > 1",
        *TERMINAL,
    )
    assert not doubles, f"robots with two outcomes: {doubles[:5]}"


def attempts_of(db_path: Path, robot_id: str) -> list[tuple]:
    """(attempt, replica, status, error, started_at, finished_at) of each recorded attempt."""
    return query(
        db_path,
        "SELECT attempt, replica, status, error, started_at, finished_at FROM attempts "
        "WHERE robot_id = ? ORDER BY attempt",
        robot_id,
    )
