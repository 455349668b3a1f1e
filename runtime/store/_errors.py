"""Translation of driver errors into the store's error tree, done once at the boundary."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from runtime.errors import StoreError, StoreUnavailable

# Primary SQLite result codes that mean "cannot reach or use the file right now".
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 13, 14, 15})  # BUSY LOCKED IOERR FULL CANTOPEN PROTOCOL

_ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.InvalidCatalogNameError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Tell whether a driver error means the database cannot be reached, not a bad request."""
    if isinstance(exc, StoreUnavailable):
        return True
    if isinstance(exc, StoreError):
        return False
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE
    if isinstance(exc, asyncpg.InterfaceError) and "pool is closed" in str(exc):
        return True
    return isinstance(exc, (*_ASYNCPG_UNAVAILABLE, OSError, TimeoutError))


@contextmanager
def store_errors(backend: str) -> Iterator[None]:
    """Re-raise sqlite3, asyncpg and socket errors as :class:`StoreError` subclasses."""
    try:
        yield
    except StoreError:
        raise
    except (
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
        TimeoutError,
    ) as exc:
        if is_unavailable(exc):
            raise StoreUnavailable(f"{backend} store unavailable: {exc}") from exc
        raise StoreError(f"{backend} store error: {exc}") from exc
