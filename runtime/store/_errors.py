"""Driver errors classed by kind, once, at the store boundary.

Every sqlite3, asyncpg or socket error that leaves a store call becomes one of:

- :class:`StoreUnavailable`: the database cannot be reached, dropped the connection, is
  shutting down or restarting. Writes are kept and retried until it is back; a client gets
  503 with ``Retry-After``.
- :class:`StoreDataError`: the database cannot hold a value (a NUL in PostgreSQL text, an
  index row too big, a number out of range). Retrying cannot help; only the item that
  carried the value fails.
- :class:`StoreConflict`: a concurrent transaction won (deadlock, serialization failure);
  trying again at once is the cure.
- :class:`StoreError`: anything else.

:class:`StoreErrors` does the translation and logs the store going away and coming back,
one line each, instead of one traceback per failed call.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
import asyncpg.exceptions
from asyncpg.exceptions import _base as asyncpg_base

from runtime.errors import StoreConflict, StoreDataError, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

# Primary SQLite result codes that mean "cannot reach or use the file right now".
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 13, 14, 15})  # BUSY LOCKED IOERR FULL CANTOPEN PROTOCOL
# ... and those that mean "this value does not fit".
_SQLITE_DATA = frozenset({18, 19, 20, 25})  # TOOBIG CONSTRAINT MISMATCH RANGE
_SQLITE_CONSTRAINT_UNIQUE = {1555, 2067}  # PRIMARYKEY, UNIQUE extended codes

_ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, and "connection closed mid-operation"
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # class 57: shutdown, restart, cancelled statement
    asyncpg.InvalidCatalogNameError,  # the database is not there (yet)
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby during a failover
)
_ASYNCPG_DATA: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,  # class 22: NUL in text, bad encoding, out of range
    asyncpg.exceptions.ProgramLimitExceededError,  # class 54: index row or value too big
    asyncpg_base.DataError,  # asyncpg could not encode an argument
)
_ASYNCPG_CONFLICT: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.TransactionRollbackError,  # class 40: deadlock, serialization failure
    asyncpg.exceptions.UniqueViolationError,
)
# asyncpg says a connection is unusable with these messages (not with a class of its own).
_GONE_MESSAGES = ("connection is closed", "pool is closed", "pool is closing")

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg_base.InternalClientError,
    OSError,
    TimeoutError,
    ValueError,  # sqlite3 refusing a string it cannot encode, an int it cannot hold
    OverflowError,
    TypeError,  # a value of the wrong type for its column (a None progress fraction)
)
"""What a store call may raise from below; :meth:`StoreErrors.translated` classes each."""


def classify(exc: BaseException) -> type[StoreError]:
    """The kind of a driver error: which :class:`StoreError` subclass it becomes."""
    if isinstance(exc, StoreError):
        return type(exc)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return StoreDataError if isinstance(exc, sqlite3.DataError) else StoreError
        if code in _SQLITE_CONSTRAINT_UNIQUE:
            return StoreConflict
        if code & 0xFF in _SQLITE_UNAVAILABLE:
            return StoreUnavailable
        if code & 0xFF in _SQLITE_DATA:
            return StoreDataError
        return StoreError
    if isinstance(exc, _ASYNCPG_UNAVAILABLE):
        return StoreUnavailable
    if isinstance(exc, _ASYNCPG_CONFLICT):
        return StoreConflict
    if isinstance(exc, _ASYNCPG_DATA):
        return StoreDataError
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return StoreDataError  # a check or not-null constraint: the value, not the moment
    if isinstance(exc, asyncpg_base.InternalClientError):
        # "cannot switch to state N": a connection left half-way by a lost server
        return StoreUnavailable
    if isinstance(exc, asyncpg.InterfaceError):
        gone = any(message in str(exc) for message in _GONE_MESSAGES)
        return StoreUnavailable if gone else StoreError
    if isinstance(exc, (OSError, TimeoutError)):
        return StoreUnavailable
    if isinstance(exc, (ValueError, OverflowError, TypeError)):
        return StoreDataError
    return StoreError


def is_unavailable(exc: BaseException) -> bool:
    """Tell whether an error means the database cannot be reached, not a bad request."""
    return issubclass(classify(exc), StoreUnavailable)


def translate(backend: str, exc: BaseException) -> StoreError:
    """The :class:`StoreError` a driver error becomes, its message naming ``backend``.

    The message keeps the driver's first line (it names the value's problem, e.g.
    ``invalid byte sequence for encoding "UTF8": 0x00``), never the SQL.
    """
    if isinstance(exc, StoreError):
        return exc
    kind = classify(exc)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if kind is StoreUnavailable:
        return StoreUnavailable(f"{backend} store unavailable: {detail}")
    if kind is StoreDataError:
        return StoreDataError(f"{backend} cannot store this value: {detail}")
    if kind is StoreConflict:
        return StoreConflict(f"{backend} write conflict: {detail}")
    return StoreError(f"{backend} store error: {detail}")


class StoreErrors:
    """A store's error boundary: translates driver errors and watches the store's reachability.

    ``with errors.translated():`` around every driver call re-raises driver errors as
    :class:`StoreError` subclasses. The first :class:`StoreUnavailable` logs one warning that
    the store went away; the next call that gets through logs one that it is back, with how
    long it was away. Calls in between log nothing here. ``on_away`` runs when the store goes
    away (a backend drops its pooled connections there: they all died with the server).
    """

    def __init__(self, backend: str, on_away: Callable[[], None] | None = None) -> None:
        self.backend = backend
        self._on_away = on_away
        self.down_since: float | None = None
        """``time.monotonic()`` when the store was last seen going away; None while it is up."""
        self.outages = 0
        """How many times the store went away."""

    @property
    def available(self) -> bool:
        """Whether the last call reached the store."""
        return self.down_since is None

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Re-raise driver errors as :class:`StoreError` subclasses; note reachability."""
        try:
            yield
        except StoreUnavailable as exc:
            self.went_away(exc)
            raise
        except StoreError:
            raise
        except DRIVER_ERRORS as exc:
            error = translate(self.backend, exc)
            if isinstance(error, StoreUnavailable):
                self.went_away(error)
            else:
                self.came_back()  # the database answered, even if with a refusal
            raise error from exc
        self.came_back()

    def went_away(self, exc: BaseException) -> None:
        """Record that a call found the store unreachable (logs on the first one only)."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning(
                "%s store is unavailable (%s); retrying until it is back", self.backend, exc
            )
            if self._on_away is not None:
                try:
                    self._on_away()
                except Exception:
                    log.debug("%s: on_away hook failed", self.backend, exc_info=True)

    def came_back(self) -> None:
        """Record that a call reached the store (logs if it had been away)."""
        if self.down_since is not None:
            away = time.monotonic() - self.down_since
            self.down_since = None
            log.warning("%s store is available again after %.1fs", self.backend, away)
