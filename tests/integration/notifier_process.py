"""A notifier in a process of its own, so a test can SIGKILL it mid-run:
``python -m tests.integration.notifier_process <sqlite file> <[notify] as JSON>``.

It runs the same :class:`actors.notifier.Notifier` the ``notifier`` Ray actor wraps, on
the same store file, until killed; secrets come from its environment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from actors.notifier import Notifier
from runtime.notify.settings import NotifySettings
from runtime.store import SqliteStore


async def main(db: Path, settings_json: str) -> None:
    """Deliver the outbox of ``db`` until killed."""
    store = SqliteStore(db)
    await store.open()
    notifier = Notifier(store, NotifySettings.model_validate_json(settings_json))
    await notifier.start()
    print("notifier started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
