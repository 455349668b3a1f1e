"""In-memory LRU of OCR results keyed by (document SHA-256, settings hash)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from runtime.ocr.results import OcrResult

ResultKey = tuple[str, str]


class ResultCache:
    """A bounded, thread-safe least-recently-used map from result key to OCR result."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[ResultKey, OcrResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ResultKey) -> OcrResult | None:
        """Return the cached result for ``key`` (marking it recently used), or None."""
        with self._lock:
            result = self._entries.get(key)
            if result is not None:
                self._entries.move_to_end(key)
            return result

    def put(self, key: ResultKey, result: OcrResult) -> None:
        """Remember ``result`` under ``key``, evicting the least recently used past the bound."""
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
