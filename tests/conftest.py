"""Settings and fixtures shared by every test tier."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.store import SqliteStore

# Every Ray cluster the tests start or join runs without Ray's token auth, whatever token an
# earlier local `ray.init()` may have left in ~/.ray (robofleet's own default, see
# cluster/deploy.py).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store opened in the test's own directory, closed after the test (a module
    that needs another backend defines its own ``store``)."""
    opened = SqliteStore(tmp_path / "robofleet.db")
    await opened.open()
    yield opened
    await opened.close()
