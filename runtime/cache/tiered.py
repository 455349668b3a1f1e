"""The cache as one object: memory tier, optional Redis tier, and the freshness guard.

Reads go to Redis while it answers (so every cache actor sees the same entries) and fall
back to memory, which mirrors what passes through and serves alone while Redis is down.
Writes land in memory and, versioned, in Redis; what changed while Redis was down is
replayed when it comes back, before it serves reads again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from runtime.cache.guard import FillGuard
from runtime.cache.kinds import (
    LIFECYCLE_VERSIONED,
    MEMORY_ONLY,
    CacheKind,
    CachePolicy,
    clock_version,
)
from runtime.cache.memory import Key, MemoryTier
from runtime.cache.redis_tier import COMPRESSED, MARK, PLAIN, RedisTier, Write, decode, encode
from runtime.cache.stats import CacheStats
from runtime.messages import CacheRead, FillToken

log = logging.getLogger(__name__)

MAX_DIRTY = 200_000

Item = tuple[CacheKind, str]
SetItem = tuple[CacheKind, str, bytes, int | None]


class FleetCache:
    """Batched get / set / mark / evict over memory and Redis, guarded for robot freshness."""

    def __init__(
        self,
        policy: CachePolicy,
        redis: RedisTier | None = None,
        clock: Callable[[], float] = time.monotonic,
        guard: FillGuard | None = None,
    ) -> None:
        self.policy = policy
        self.stats = redis.stats if redis is not None else CacheStats()
        self.memory = MemoryTier(policy, self.stats, clock)
        self.guard = guard or FillGuard(clock)
        self.redis = redis
        self._dirty: dict[Key, None] = {}
        self._dirty_overflow = False
        if redis is not None:
            redis.on_recover = self._replay

    async def start(self) -> None:
        """Connect the Redis tier, if any."""
        if self.redis is not None:
            await self.redis.start()

    async def close(self) -> None:
        """Release the Redis tier."""
        if self.redis is not None:
            await self.redis.close()

    @property
    def _shared(self) -> bool:
        return self.redis is not None and self.redis.up

    # -- reads ---------------------------------------------------------------------------

    async def get_many(self, items: Sequence[Item]) -> CacheRead:
        """Values of many keys (None for a miss) and the token a reader's fills must carry."""
        values: list[bytes | None] = [None] * len(items)
        remote: list[int] = []
        for i, (kind, key) in enumerate(items):
            if kind is CacheKind.ROBOT_LIST:
                values[i] = self._list_page(key)
            elif kind is CacheKind.ROBOT and not self.guard.gate_open:
                continue
            elif self._shared:
                remote.append(i)
            else:
                values[i] = self.memory.get(kind, key)
        if remote and self.redis is not None:
            blobs = await self.redis.get_many([self.redis.key(*items[i]) for i in remote])
            repairs: list[int] = []
            for i, blob in zip(remote, blobs or [None] * len(remote), strict=True):
                kind, key = items[i]
                if blob is None:
                    if blobs is not None and kind in LIFECYCLE_VERSIONED:
                        # Redis lost it; another actor may have marked it meanwhile, so
                        # only the store can say what is current.
                        continue
                    values[i] = self.memory.get(kind, key)
                    if values[i] is not None and blobs is not None:
                        repairs.append(i)  # Redis lost it (restart, eviction): write it back
                    continue
                version, flag, data = decode(blob)
                mirror = self.memory.entry(kind, key)
                if flag == MARK:
                    if mirror is None or not mirror.is_mark or mirror.version < version:
                        self.memory.mark(kind, key, version)
                    continue
                if mirror is None or mirror.version != version or mirror.is_mark:
                    # Keep memory in step, so it can serve alone if Redis goes away.
                    self.memory.put(kind, key, b"", version, None, (data, flag == COMPRESSED))
                values[i] = self.memory.get(kind, key)
            if repairs:
                await self._write_through([items[i] for i in repairs])
        for (kind, _), value in zip(items, values, strict=True):
            if value is None:
                self.stats[kind].misses += 1
            else:
                self.stats[kind].hits += 1
        return CacheRead(values, self.guard.token())

    def _list_page(self, key: str) -> bytes | None:
        if not self.guard.lists_served():
            return None
        entry = self.memory.entry(CacheKind.ROBOT_LIST, key)
        if entry is None or entry.version != self.guard.list_epoch:
            return None
        return entry.value()

    # -- writes --------------------------------------------------------------------------

    async def set_many(
        self, items: Sequence[SetItem], token: FillToken | None = None
    ) -> list[bool]:
        """Store values; robot state only as a fill the guard admits. Per item, whether it landed.

        ``version`` None means "now" for clock-versioned kinds (module health, API keys, ...).
        """
        landed = [False] * len(items)
        written: dict[Item, int] = {}
        for i, (kind, key, data, version) in enumerate(items):
            if kind is CacheKind.ROBOT_LIST:
                if self.guard.admits_list(token):
                    landed[i] = self.memory.put(kind, key, data, self.guard.list_epoch)
                continue
            if kind in LIFECYCLE_VERSIONED:
                if version is None or not self.guard.admits(token, key, version):
                    self.stats[kind].stale_writes += 1
                    continue
            elif version is None:
                version = clock_version()
            if self.memory.put(kind, key, data, version):
                landed[i] = True
                written[(kind, key)] = i
        for item in await self._write_through(list(written)):
            self.memory.evict(*item)  # Redis holds a newer version: do not serve ours
            landed[written[item]] = False
        return landed

    async def mark_robots(self, versions: dict[str, int], lists: bool = True) -> None:
        """Before a commit: make these robots miss until they are read at these versions."""
        if lists:
            self.guard.lists_changing()
        for robot_id, version in versions.items():
            self.guard.note_mark(robot_id, version)
            self.memory.mark(CacheKind.ROBOT, robot_id, version)
        await self._write_through([(CacheKind.ROBOT, robot_id) for robot_id in versions])

    def lists_changed(self, settled: bool) -> None:
        """Robots were created, or a commit announced by :meth:`mark_robots` is done."""
        self.guard.lists_changed(settled)

    async def evict_many(self, items: Sequence[Item]) -> None:
        """Invalidate keys everywhere: a mark newer than any write so far, in memory and Redis."""
        marked: list[Item] = []
        for kind, key in items:
            if kind is CacheKind.ROBOT_LIST:
                self.memory.evict(kind, key)
                continue
            current = self.memory.entry(kind, key)
            floor = (current.version + 1) if current is not None else 0
            version = floor if kind in LIFECYCLE_VERSIONED else max(floor, clock_version())
            if kind is CacheKind.ROBOT:
                self.guard.note_mark(key, version)
            self.memory.mark(kind, key, version)
            marked.append((kind, key))
        await self._write_through(marked)

    async def sync_robots(self, backlog: dict[str, int], reset: bool) -> None:
        """The writer's marks that could not be delivered, or a reset; then serve robots again."""
        if reset:
            self.memory.clear(CacheKind.ROBOT)
            self.memory.clear(CacheKind.ROBOT_LIST)
            if self.redis is not None:
                if self.redis.up:
                    await self.redis.delete_matching(f"{CacheKind.ROBOT.value}:*")
                else:
                    self._dirty_overflow = True  # wipe Redis robot state when it is back
        if backlog:
            await self.mark_robots(backlog, lists=False)
        self.guard.open_gate(reset)

    # -- Redis plumbing -------------------------------------------------------------------

    def _blob(self, kind: CacheKind, key: str) -> Write | None:
        entry = self.memory.entry(kind, key)
        if entry is None or self.redis is None:
            return None
        ttl_ms = int((self.memory.remaining_ttl(kind, key) or 0.0) * 1000)
        if entry.data is None:
            blob = encode(entry.version, MARK)
        else:
            blob = encode(entry.version, COMPRESSED if entry.compressed else PLAIN, entry.data)
        return (self.redis.key(kind.value, key), entry.version, ttl_ms, blob)

    async def _write_through(self, items: Sequence[Item]) -> list[Item]:
        """Send entries to Redis; return those Redis refused as older than what it holds."""
        shared = [i for i in items if i[0] not in MEMORY_ONLY]
        if self.redis is None or not shared:
            return []
        writes: list[Write] = []
        sent: list[Item] = []
        for item in shared:
            blob = self._blob(*item)
            if blob is not None:
                writes.append(blob)
                sent.append(item)
        landed = await self.redis.put_many(writes) if self.redis.up else None
        if landed is None:
            self._remember_dirty(shared)
            return []
        return [item for item, ok in zip(sent, landed, strict=True) if not ok]

    def _remember_dirty(self, items: Sequence[Item]) -> None:
        for item in items:
            self._dirty[item] = None
        if len(self._dirty) > MAX_DIRTY:
            self._dirty.clear()
            self._dirty_overflow = True

    async def _replay(self) -> None:
        """Called when Redis answers again: write back what changed while it was away."""
        assert self.redis is not None
        while self._dirty or self._dirty_overflow:
            if self._dirty_overflow:
                self._dirty_overflow = False
                self._dirty.clear()
                log.warning("cache: too much changed while Redis was away; dropping its entries")
                if not await self.redis.delete_matching("*"):
                    self._dirty_overflow = True
                    raise ConnectionError("Redis failed during the replay")
                continue
            batch, self._dirty = list(self._dirty), {}
            writes = [w for w in (self._blob(*item) for item in batch) if w is not None]
            written = {w[0] for w in writes}
            deletes = [
                k
                for k in (self.redis.key(kind.value, key) for kind, key in batch)
                if k not in written
            ]
            try:
                await self.redis.replay(writes, deletes)
            except Exception:
                self._remember_dirty(batch)
                raise
