"""``robofleet_backup_last_verified_timestamp_seconds`` for the gateway's ``/metrics``.

Read from the backups directory at scrape time: one small file (``last_verified.json``), so
a scrape never waits on anything. 0 when no backup there was ever verified, so an alert on
"not verified in 26 h" fires for a deployment that never proved a backup.
"""

from __future__ import annotations

from pathlib import Path

from runtime.backup.manifest import last_verified_at

METRIC = "robofleet_backup_last_verified_timestamp_seconds"


def backup_metrics_text(backups: Path) -> bytes:
    """The metric in Prometheus text exposition format."""
    value = last_verified_at(backups) or 0.0
    return (
        f"# HELP {METRIC} Unix time of the newest successful backup verification "
        "(0: never).\n"
        f"# TYPE {METRIC} gauge\n"
        f"{METRIC} {value!r}\n"
    ).encode()
