"""The audit trail: every mutating call and every authentication or authorization failure.

The entry of an accepted robot (``POST /v1/robots`` answered 202) is written by the store in
the statement that inserts the robot, so no robot is ever stored without it and the busiest
route costs the gateway no audit write. Other entries are written by a background task in
batches (one transaction per batch, at most ``flush_s`` after the call), so auditing adds
no store round trip to a request. ``GET /v1/audit`` (admin) reads them back.

An entry the store cannot hold never blocks the entries behind it: a batch refused for its
data is split until the entry at fault stands alone, and that entry is quarantined (kept
in memory, counted in ``robofleet_audit_quarantined_total`` and logged once) while the rest
are written. While the store is unavailable, entries wait and are written once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from gateway.errors import REQUEST_ID
from runtime.errors import RobofleetError, StoreDataError, StoreUnavailable
from runtime.keys import ApiKey, AuditEntry
from runtime.messages import AuditCaller
from runtime.models import new_robot_id
from runtime.store import write_isolated
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)

AUDIT_TARGET = web.RequestKey("audit_target", str)
"""Request item: what a handler acted on (robot id, key id, module name)."""
AUDITED = web.RequestKey("audited", bool)
"""Request item: the store already holds this call's audit entry (written with a robot)."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_PENDING = 50_000
MAX_QUARANTINED = 1_000
"""Quarantined entries kept in memory for inspection (the oldest go first)."""

QUARANTINED = Counter(
    "robofleet_audit_quarantined",
    "Audit entries the store could not hold, set aside so the entries behind them are written",
)


class AuditLog:
    """Collects audit entries and writes them to the store in the background."""

    def __init__(self, store: RobotStore, flush_s: float = 0.2) -> None:
        self._store = store
        self._flush_s = flush_s
        self._pending: list[AuditEntry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.quarantined: deque[tuple[AuditEntry, str]] = deque(maxlen=MAX_QUARANTINED)
        """Entries the store could not hold, with the reason, newest last."""

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry (dropping the oldest, loudly, if the store is far behind)."""
        if len(self._pending) >= MAX_PENDING:
            log.error("audit log: %d entries pending; dropping the oldest", len(self._pending))
            del self._pending[: MAX_PENDING // 10]
        self._pending.append(entry)
        self._wake.set()

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Write what is pending and stop."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write every pending entry now; quarantine any the store cannot hold.

        While the store is unavailable the entries stay pending (it logs the outage once)
        and the next flush tries again.
        """
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except StoreUnavailable:
                self._pending[:0] = batch
                return
            except Exception:
                log.exception("audit log: writing %d entries failed; will retry", len(batch))
                self._pending[:0] = batch
                return

    async def _write(self, batch: Sequence[AuditEntry]) -> None:
        """Write a batch; quarantine each entry the store cannot hold, write the others."""

        async def write(run: Sequence[AuditEntry]) -> list[None]:
            await self._store.record_audit(run)
            return [None] * len(run)

        outcomes = await write_isolated(batch, write)
        for entry, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, StoreDataError):
                self._quarantine(entry, outcome)

    def _quarantine(self, entry: AuditEntry, exc: StoreDataError) -> None:
        QUARANTINED.inc()
        self.quarantined.append((entry, str(exc)))
        log.warning(
            "audit log: entry %s (%r by %r, status %d) cannot be stored and is quarantined: %s",
            entry.id,
            entry.action,
            entry.actor,
            entry.status,
            exc,
        )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._flush_s)
            await self.flush()
            if self._pending:
                await asyncio.sleep(1.0)
                self._wake.set()


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "denied"
    return "error" if status >= 500 else "rejected"


def _action(request: web.Request) -> str:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return f"{request.method} {path}"[:200]


def audit_caller(request: web.Request, key: ApiKey) -> AuditCaller:
    """Who made this request, for an audit entry the store writes along with a robot."""
    return AuditCaller(
        request_id=request.get(REQUEST_ID, ""),
        actor=key.id,
        client=request.remote,
        action=_action(request),
    )


def audit_middleware(
    audit_log: AuditLog, caller_of: Callable[[web.Request], ApiKey | None]
) -> Middleware:
    """Middleware recording mutating calls and auth failures in ``audit_log``.

    ``caller_of`` finds the key of a request (None before authentication).
    """

    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the request, then queue an audit entry if it mutated or was refused."""
        status, detail = 499, None
        try:
            response = await handler(request)
            status = response.status
            return response
        except RobofleetError as exc:
            # The status the error middleware will answer; a 5xx keeps its message out.
            status = exc.http_status
            detail = exc.message if status < 500 else type(exc).__name__
            raise
        except web.HTTPException as exc:
            status = exc.status_code
            raise
        except Exception as exc:
            status, detail = 500, type(exc).__name__
            raise
        finally:
            if request.get(AUDITED):
                pass
            elif request.method not in SAFE_METHODS or status in (401, 403):
                key: ApiKey | None = caller_of(request)
                match = request.match_info
                target = request.get(AUDIT_TARGET) or match.get("robot_id") or match.get("key_id")
                audit_log.record(
                    AuditEntry(
                        id=new_robot_id(),  # time-ordered ids, like robots'
                        at=time.time(),
                        request_id=request.get(REQUEST_ID, ""),
                        actor=key.id if key is not None else "anonymous",
                        client=request.remote,
                        action=_action(request),
                        target=str(target)[:200] if target else None,
                        outcome=_outcome(status),
                        status=status,
                        detail=detail[:500] if detail else None,
                    )
                )

    return audit
