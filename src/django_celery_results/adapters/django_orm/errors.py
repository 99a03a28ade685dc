"""Translate Django's and the database drivers' exceptions into the domain's storage errors.

Every repository method runs its database access inside ``translate_errors(alias)``, so nothing
above the ORM adapter ever sees ``django.db.utils`` or a driver's exception. A *transient* error
(the connection was lost, the server is going away, a deadlock or lock timeout) also resets the
Django connection of the alias that failed, so the retry that Celery's
``result_backend_always_retry`` makes opens a fresh one; a routed write may not use ``default``,
so the alias is the one the repository used, never a guess.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Final

from django.db import connections
from django.db.utils import Error as DjangoDatabaseError
from django.db.utils import InterfaceError as DjangoInterfaceError

from ...domain.errors import (
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)

#: MySQL/MariaDB error numbers that a retry on a fresh connection may not meet again.
MYSQL_TRANSIENT_ERRNOS: Final = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections (a slot frees up)
        1053,  # ER_SERVER_SHUTDOWN: server shutdown in progress
        1205,  # ER_LOCK_WAIT_TIMEOUT
        1213,  # ER_LOCK_DEADLOCK
        1927,  # ER_CONNECTION_KILLED (MariaDB): KILL from another session
        2002,  # CR_CONNECTION_ERROR: can't connect through the socket
        2003,  # CR_CONN_HOST_ERROR: can't connect to the server
        2006,  # CR_SERVER_GONE_ERROR: server has gone away
        2013,  # CR_SERVER_LOST: lost connection during query
        2055,  # CR_SERVER_LOST_EXTENDED: lost connection at '...'
        4031,  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): idle client disconnected
    }
)

#: PostgreSQL SQLSTATE codes (beyond class 08, connection exception) worth a retry.
POSTGRES_TRANSIENT_SQLSTATES: Final = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout, NOWAIT)
        "57P01",  # admin_shutdown (pg_terminate_backend, smart/fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "53300",  # too_many_connections
    }
)

#: SQLite primary result codes that mean another connection holds the lock.
SQLITE_TRANSIENT_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
SQLITE_TRANSIENT_MESSAGES: Final = ("database is locked", "database table is locked", "busy")


def translate_errors(alias: str) -> ErrorTranslation:
    """Context manager and decorator: database exceptions become ``StorageError`` subclasses.

    ``TransientStorageError`` for failures a retry may not meet again (lost or refused
    connection, server shutdown, deadlock, serialization failure, lock timeout, a busy SQLite
    file, an already closed connection), ``PermanentStorageError`` for every other database
    error. Both carry ``alias`` and chain the original exception as ``__cause__``. Domain errors
    raised inside pass through untouched; exceptions that are not database errors (a bug, a
    ``KeyboardInterrupt``) propagate unchanged.

    On a transient error the connection of ``alias`` is closed so that the next use reconnects,
    unless it is inside an ``atomic`` block: there the caller's transaction handling owns the
    connection (Django marks it for rollback and refuses further queries until the block exits).

    Args:
        alias: the Django database alias the wrapped code used.
    """
    return ErrorTranslation(alias)


class ErrorTranslation(contextlib.ContextDecorator):
    """The context manager ``translate_errors(alias)`` returns; see there.

    Attributes:
        alias: the Django database alias whose errors it translates (and resets).
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, StorageError) or not _is_database_error(exc, self.alias):
            return
        if is_transient(exc, self.alias):
            _reset_connection(self.alias)
            raise TransientStorageError(_describe(exc), alias=self.alias) from exc
        raise PermanentStorageError(_describe(exc), alias=self.alias) from exc


def is_transient(exc: BaseException, alias: str) -> bool:
    """Whether the database error ``exc``, raised on ``alias``, is worth a retry."""
    driver_exc = exc.__cause__ if isinstance(exc, DjangoDatabaseError) and exc.__cause__ else exc
    if isinstance(exc, DjangoInterfaceError) or _class_name(driver_exc) == "InterfaceError":
        # The connection object is already closed or broken: a new one is the cure.
        return True
    vendor = _vendor(alias)
    if vendor == "postgresql":
        return _postgres_transient(driver_exc)
    if vendor == "mysql":
        return _mysql_transient(driver_exc)
    if vendor == "sqlite":
        return _sqlite_transient(driver_exc)
    return False


def _postgres_transient(exc: BaseException) -> bool:
    # psycopg 3 names it ``sqlstate``, psycopg2 ``pgcode``.
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate is None:
        # Errors raised by the client library itself carry no SQLSTATE: a refused connection,
        # "server closed the connection unexpectedly", "the connection is closed".
        return _class_name(exc) == "OperationalError"
    return sqlstate.startswith("08") or sqlstate in POSTGRES_TRANSIENT_SQLSTATES


def _mysql_transient(exc: BaseException) -> bool:
    errno = exc.args[0] if exc.args else None
    return isinstance(errno, int) and errno in MYSQL_TRANSIENT_ERRNOS


def _sqlite_transient(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int) and code & 0xFF in SQLITE_TRANSIENT_CODES:
        return True
    message = str(exc).lower()
    return any(text in message for text in SQLITE_TRANSIENT_MESSAGES)


def _is_database_error(exc: BaseException, alias: str) -> bool:
    if isinstance(exc, DjangoDatabaseError):
        return True
    # A driver exception that escaped Django's wrapper (raised outside a Django cursor call).
    try:
        driver_error: type[BaseException] = connections[alias].Database.Error  # type: ignore[attr-defined]
    except Exception:  # an unknown alias: nothing to compare against
        return False
    return isinstance(exc, driver_error)


def _reset_connection(alias: str) -> None:
    try:
        connection = connections[alias]
    except Exception:  # an unknown alias has no connection to reset
        return
    if connection.in_atomic_block:
        return
    # Closing a broken connection can itself fail; Django forgets it either way.
    with contextlib.suppress(Exception):
        connection.close()


def _vendor(alias: str) -> str | None:
    try:
        return connections[alias].vendor
    except Exception:
        return None


def _class_name(exc: BaseException) -> str:
    return type(exc).__name__


def _describe(exc: BaseException) -> str:
    return f"{_class_name(exc)}: {exc}".strip()
