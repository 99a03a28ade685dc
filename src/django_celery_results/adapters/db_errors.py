"""Which Django database exceptions are worth a retry: shared by both Django-based adapters.

The ORM adapter (``django_orm.errors``) and the cache adapter (``django_cache.errors``, for
``DatabaseCache``) both meet ``django.db.utils`` exceptions and the drivers' own beneath them.
``is_transient`` judges one by its vendor's codes: a lost or refused connection, a server
shutting down, a deadlock, a serialization failure, a lock timeout, a busy SQLite file. The
small helpers here (the driver's exception under Django's wrapper, an exception's one-line
description) are what both adapters need around that verdict.
"""

from __future__ import annotations

from typing import Final

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import Error as DjangoDatabaseError
from django.db.utils import InterfaceError as DjangoInterfaceError

__all__ = [
    "MYSQL_TRANSIENT_ERRNOS",
    "POSTGRES_TRANSIENT_SQLSTATES",
    "SQLITE_TRANSIENT_CODES",
    "SQLITE_TRANSIENT_MESSAGES",
    "database_connection",
    "describe",
    "driver_exception",
    "is_database_error",
    "is_transient",
]

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


def is_transient(exc: BaseException, alias: str) -> bool:
    """Whether the database error ``exc``, raised on ``alias``, is worth a retry.

    Judged by the error alone; the ORM's ``translate_errors`` first rules out writes too
    large to store.
    """
    driver_exc = driver_exception(exc)
    if isinstance(exc, DjangoInterfaceError) or type(driver_exc).__name__ == "InterfaceError":
        # The connection object is already closed or broken: a new one is the cure.
        return True
    connection = database_connection(alias)
    vendor = None if connection is None else connection.vendor
    if vendor == "postgresql":
        return _postgres_transient(driver_exc)
    if vendor == "mysql":
        return _mysql_transient(driver_exc)
    if vendor == "sqlite":
        return _sqlite_transient(driver_exc)
    return False


def is_database_error(exc: BaseException, alias: str) -> bool:
    """Whether ``exc`` is a database error: Django's, or the driver's of ``alias`` unwrapped."""
    if isinstance(exc, DjangoDatabaseError):
        return True
    # A driver exception that escaped Django's wrapper (raised outside a Django cursor call).
    try:
        driver_error: type[BaseException] = connections[alias].Database.Error  # type: ignore[attr-defined]
    except Exception:  # an unknown alias: nothing to compare against
        return False
    return isinstance(exc, driver_error)


def driver_exception(exc: BaseException) -> BaseException:
    """The driver's exception that Django's ``exc`` wraps, or ``exc`` itself."""
    return exc.__cause__ if isinstance(exc, DjangoDatabaseError) and exc.__cause__ else exc


def database_connection(alias: str) -> BaseDatabaseWrapper | None:
    """The connection of ``alias``, or None for an unknown alias."""
    try:
        return connections[alias]
    except Exception:  # an unknown alias has no connection
        return None


def describe(exc: BaseException) -> str:
    """``ClassName: message``, the way a translated error quotes its cause."""
    return f"{type(exc).__name__}: {exc}".strip()


def _postgres_transient(exc: BaseException) -> bool:
    # psycopg 3 names it ``sqlstate``, psycopg2 ``pgcode``.
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate is None:
        # Errors raised by the client library itself carry no SQLSTATE: a refused connection,
        # "server closed the connection unexpectedly", "the connection is closed".
        return type(exc).__name__ == "OperationalError"
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
