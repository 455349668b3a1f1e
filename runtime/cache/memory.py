"""The in-memory tier: TTL per kind, LRU bounded by entries and bytes, versioned entries.

Every entry carries a version; a write with an older version than the entry it would replace
is refused, so a slow writer can never undo a newer one. A *mark* is an entry without a
value (a tombstone): lookups miss, and only writes at least as new as the mark may land.
Values over ``compress_min_bytes`` are kept zlib-compressed when that makes them smaller.
"""

from __future__ import annotations

import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runtime.cache.kinds import CacheKind, CachePolicy
from runtime.cache.stats import CacheStats

ENTRY_OVERHEAD_BYTES = 96  # rough per-entry cost of the key tuple, the entry and the dict slot

Key = tuple[CacheKind, str]


@dataclass(slots=True)
class Entry:
    """One cached value (or mark) with its version and expiry."""

    version: int
    data: bytes | None
    compressed: bool
    expires_at: float
    size: int

    @property
    def is_mark(self) -> bool:
        """Whether this entry only fences off older writes and holds no value."""
        return self.data is None

    def value(self) -> bytes | None:
        """The stored value, decompressed; None for a mark."""
        if self.data is None:
            return None
        return zlib.decompress(self.data) if self.compressed else self.data


def pack(data: bytes, compress_min_bytes: int) -> tuple[bytes, bool]:
    """Compress ``data`` when it is large and compression pays; return it and whether it is."""
    if len(data) >= compress_min_bytes:
        packed = zlib.compress(data, 1)
        if len(packed) < len(data):
            return packed, True
    return data, False


class MemoryTier:
    """Versioned TTL + LRU store of byte values, bounded by entry count and total bytes."""

    def __init__(
        self,
        policy: CachePolicy,
        stats: CacheStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.stats = stats or CacheStats()
        self._clock = clock
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Key) -> bool:
        return self.entry(*key) is not None

    def keys(self) -> Iterator[Key]:
        """Keys currently held (expired ones included until they are next touched)."""
        return iter(list(self._entries))

    def entry(self, kind: CacheKind, key: str) -> Entry | None:
        """The live entry (value or mark) of a key, refreshing its LRU position; None if absent."""
        k = (kind, key)
        found = self._entries.get(k)
        if found is None:
            return None
        if found.expires_at <= self._clock():
            self._drop(k, found)
            self.stats[kind].expirations += 1
            return None
        self._entries.move_to_end(k)
        return found

    def get(self, kind: CacheKind, key: str) -> bytes | None:
        """The value of a key, or None when absent, expired or marked."""
        found = self.entry(kind, key)
        return None if found is None else found.value()

    def put(
        self,
        kind: CacheKind,
        key: str,
        data: bytes,
        version: int,
        ttl_s: float | None = None,
        packed: tuple[bytes, bool] | None = None,
    ) -> bool:
        """Store a value unless the cache holds a newer version; return whether it landed."""
        current = self.entry(kind, key)
        if current is not None and current.version > version:
            self.stats[kind].stale_writes += 1
            return False
        blob, compressed = packed or pack(data, self.policy.compress_min_bytes)
        size = len(blob) + len(key) + ENTRY_OVERHEAD_BYTES
        if size > self.policy.max_bytes:
            return False
        ttl = self.policy.ttl(kind) if ttl_s is None else ttl_s
        self._store((kind, key), Entry(version, blob, compressed, self._clock() + ttl, size))
        self.stats[kind].sets += 1
        return True

    def mark(self, kind: CacheKind, key: str, version: int, ttl_s: float | None = None) -> int:
        """Hide a key's value until a write at least as new as ``version``; return the mark's.

        A mark never lowers the version a key already has, and always makes lookups miss.
        """
        current = self.entry(kind, key)
        if current is not None:
            version = max(version, current.version)
        ttl = self.policy.ttl(kind) if ttl_s is None else ttl_s
        size = len(key) + ENTRY_OVERHEAD_BYTES
        self._store((kind, key), Entry(version, None, False, self._clock() + ttl, size))
        self.stats[kind].marks += 1
        return version

    def evict(self, kind: CacheKind, key: str) -> bool:
        """Forget a key outright (no mark left behind); return whether it was held."""
        found = self._entries.get((kind, key))
        if found is None:
            return False
        self._drop((kind, key), found)
        return True

    def clear(self, kind: CacheKind) -> int:
        """Forget every entry of a kind; return how many there were."""
        doomed = [(k, e) for k, e in self._entries.items() if k[0] is kind]
        for k, e in doomed:
            self._drop(k, e)
        return len(doomed)

    def remaining_ttl(self, kind: CacheKind, key: str) -> float | None:
        """Seconds until a key expires, or None when it is not held."""
        found = self._entries.get((kind, key))
        return None if found is None else max(0.0, found.expires_at - self._clock())

    def _store(self, k: Key, entry: Entry) -> None:
        old = self._entries.pop(k, None)
        if old is not None:
            self._account(k[0], old, -1)
        self._entries[k] = entry
        self._account(k[0], entry, +1)
        self._shrink()

    def _shrink(self) -> None:
        while self._entries and (
            len(self._entries) > self.policy.max_entries or self.bytes > self.policy.max_bytes
        ):
            k, entry = self._entries.popitem(last=False)
            self._account(k[0], entry, -1)
            self.stats[k[0]].evictions += 1

    def _drop(self, k: Key, entry: Entry) -> None:
        del self._entries[k]
        self._account(k[0], entry, -1)

    def _account(self, kind: CacheKind, entry: Entry, sign: int) -> None:
        self.bytes += sign * entry.size
        kind_stats = self.stats[kind]
        kind_stats.entries += sign
        kind_stats.bytes += sign * entry.size

    def sweep(self, budget: int = 10_000) -> int:
        """Drop up to ``budget`` expired entries from the LRU end; return how many went."""
        now = self._clock()
        expired = [(k, e) for k, e in self._entries.items() if e.expires_at <= now][:budget]
        for k, e in expired:
            self._drop(k, e)
            self.stats[k[0]].expirations += 1
        return len(expired)
