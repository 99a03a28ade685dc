"""Translate Django's and the database drivers' exceptions into the domain's storage errors.

Every repository method runs its database access inside ``translate_errors(alias)``, so nothing
above the ORM adapter ever sees ``django.db.utils`` or a driver's exception. Three decisions are
made at that boundary:

- *Too large*: a write the database refuses for its size (MySQL/MariaDB beyond
  ``max_allowed_packet``, PostgreSQL beyond its 1 GB limit on a value or a message, SQLite beyond
  ``SQLITE_LIMIT_LENGTH``) is always a ``PermanentStorageError`` whose message names the record,
  its size in bytes and the limit. MySQL and MariaDB close the connection when they refuse an
  oversized packet, and the client often sees only the closed socket ("server has gone away",
  "lost connection") instead of the refusal; a lost connection during a write at least as large
  as the server's limit is therefore judged by the sizes, never retried.
- *Transient* (the connection was lost, the server is going away, a deadlock or lock timeout;
  ``adapters.db_errors.is_transient``, re-exported here): ``TransientStorageError``, which
  Celery's ``result_backend_always_retry`` retries.
- Everything else is a ``PermanentStorageError``.

Whatever the verdict, a connection the error left unusable is closed, so the next use of the
alias (Celery's retry, or the next task's result) opens a fresh one; a routed write may not use
``default``, so the alias is the one the repository used, never a guess.

The domain's errors (``domain/errors.py``) and which of them this module raises::

    ResultBackendError
    ├── InvalidRecordError          the domain's: a value over a column's width, refused
    │                               before any SQL is sent
    └── StorageError                raised here: carries .alias, chains the driver's error
        ├── TransientStorageError   lost connection, shutdown, deadlock, lock timeout: retried
        └── PermanentStorageError   too large (names record, size, limit), anything else
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Final

import attrs
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import Error as DjangoDatabaseError

from ...domain.errors import (
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from ...domain.records import ChordCounter, GroupRecord, TaskRecord
from ..db_errors import (
    database_connection,
    describe,
    driver_exception,
    is_database_error,
    is_transient,
)

__all__ = [
    "MYSQL_ESCAPED_CHARACTERS",
    "MYSQL_LIMIT_LOOKUP_TIMEOUT",
    "MYSQL_LOST_CONNECTION_ERRNOS",
    "MYSQL_SMALLEST_PACKET_LIMIT",
    "MYSQL_TOO_LARGE_ERRNOS",
    "POSTGRES_SIZE_LIMIT",
    "SQLITE_TOOBIG",
    "SQLITE_TOOBIG_MESSAGE",
    "ErrorTranslation",
    "Oversize",
    "WrittenRecord",
    "is_transient",
    "translate_errors",
]

#: MySQL/MariaDB error numbers that say a packet or a value was too large: never retried.
MYSQL_TOO_LARGE_ERRNOS: Final = frozenset(
    {
        1153,  # ER_NET_PACKET_TOO_LARGE: the server refused a packet over max_allowed_packet
        1301,  # ER_WARN_ALLOWED_PACKET_OVERFLOWED: a function's result over max_allowed_packet
        2020,  # CR_NET_PACKET_TOO_LARGE: the client's own max_allowed_packet
    }
)

#: MySQL/MariaDB errors that, during an oversized write, are the server's refusal seen from a
#: client still sending: the server answers ER_NET_PACKET_TOO_LARGE and closes the socket, and
#: the client reports whichever failure it meets first.
MYSQL_LOST_CONNECTION_ERRNOS: Final = frozenset({2006, 2013, 2055})

#: The smallest ``max_allowed_packet`` MySQL and MariaDB accept: a smaller write is never too
#: large, so a lost connection during it is transient without asking the server for its limit.
MYSQL_SMALLEST_PACKET_LIMIT: Final = 1024

#: Seconds allowed to connect when asking a MySQL/MariaDB server for its ``max_allowed_packet``
#: after a lost connection (the server may really be gone: the look-up must not hang a worker).
MYSQL_LIMIT_LOOKUP_TIMEOUT: Final = 5

#: Characters MySQL's string escaping doubles (``mysql_real_escape_string``): a write's literals
#: are that much longer than its text.
MYSQL_ESCAPED_CHARACTERS: Final = ("\0", "\n", "\r", "\\", "'", '"', "\x1a")

#: PostgreSQL refuses a value, and a protocol message, of 1 GB or more (``MaxAllocSize``); the
#: server answers a longer message by closing the connection ("invalid message length").
POSTGRES_SIZE_LIMIT: Final = 0x3FFFFFFF

#: SQLITE_TOOBIG, and its message: a string, blob or row over ``SQLITE_LIMIT_LENGTH``.
SQLITE_TOOBIG: Final = 18
SQLITE_TOOBIG_MESSAGE: Final = "string or blob too big"

#: The records a repository writes; their size is what a too-large verdict reports.
WrittenRecord = TaskRecord | GroupRecord | ChordCounter


def translate_errors(alias: str, writing: WrittenRecord | None = None) -> ErrorTranslation:
    """Context manager and decorator: database exceptions become ``StorageError`` subclasses.

    ``PermanentStorageError`` for a write the database refuses for its size, with a message that
    names the record, its size in bytes and the database's limit (on MySQL/MariaDB also when the
    refusal arrives as a lost connection: see the module docstring). ``TransientStorageError``
    for failures a retry may not meet again (lost or refused connection, server shutdown,
    deadlock, serialization failure, lock timeout, a busy SQLite file, an already closed
    connection), ``PermanentStorageError`` for every other database error. Both carry ``alias``
    and chain the original exception as ``__cause__``. Domain errors raised inside pass through
    untouched; exceptions that are not database errors (a bug, a ``KeyboardInterrupt``)
    propagate unchanged.

    After a transient error the connection of ``alias`` is closed; after any other error it is
    closed when it no longer works (checked as Django's ``close_if_unusable_or_obsolete``
    does: only after errors other than ``DataError``/``IntegrityError``). Either way the next
    use reconnects. Not inside an ``atomic`` block: there the caller's transaction owns the
    connection. Closing a working connection would throw away the caller's transaction (which
    may go on after catching the error in a savepoint), and a dead one is dropped by Django
    itself when the outermost block exits and its rollback fails.

    Args:
        alias: the Django database alias the wrapped code used.
        writing: the record the wrapped code writes, if any; its size is compared with the
            database's limit when the write fails.
    """
    return ErrorTranslation(alias, writing)


class ErrorTranslation(contextlib.ContextDecorator):
    """The context manager ``translate_errors(alias)`` returns; see there.

    Attributes:
        alias: the Django database alias whose errors it translates (and resets).
        writing: the record being written, or None.
    """

    def __init__(self, alias: str, writing: WrittenRecord | None = None) -> None:
        self.alias = alias
        self.writing = writing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, StorageError) or not is_database_error(exc, self.alias):
            return
        connection = database_connection(self.alias)
        oversize = None if connection is None else _oversize(exc, connection, self.writing)
        transient = oversize is None and is_transient(exc, self.alias)
        if connection is not None:
            _reset_if_unusable(connection, exc, broken=transient)
        if oversize is not None:
            raise PermanentStorageError(
                oversize.describe(self.writing, self.alias, exc), alias=self.alias
            ) from exc
        if transient:
            raise TransientStorageError(describe(exc), alias=self.alias) from exc
        raise PermanentStorageError(describe(exc), alias=self.alias) from exc


@attrs.frozen
class Oversize:
    """A write the database refused for its size.

    Attributes:
        size: the bytes the write carried (its text as the database receives it), when known.
        limit: the database's limit in bytes, when known.
        limit_name: what the limit is called on that database.
    """

    size: int | None
    limit: int | None
    limit_name: str

    def describe(self, record: WrittenRecord | None, alias: str, exc: BaseException) -> str:
        """The error message: which record, how large, which limit, and the driver's words."""
        what = "the value" if record is None else _record_name(record)
        size = "" if self.size is None else f": {self.size} bytes"
        limit = "" if self.limit is None else f" of {self.limit} bytes"
        return (
            f"{what} is too large to store{size}, over the {self.limit_name}{limit} on "
            f"database {alias!r}; it is not retried. ({describe(exc)})"
        )


def _oversize(
    exc: BaseException, connection: BaseDatabaseWrapper, record: WrittenRecord | None
) -> Oversize | None:
    """Whether ``exc`` is the database refusing ``record`` (or a value) for its size."""
    driver_exc = driver_exception(exc)
    if connection.vendor == "mysql":
        errno = driver_exc.args[0] if driver_exc.args else None
        if errno in MYSQL_TOO_LARGE_ERRNOS:
            size = None if record is None else _mysql_literal_bytes(record)
            return Oversize(size, _mysql_packet_limit(connection), "max_allowed_packet")
        if errno in MYSQL_LOST_CONNECTION_ERRNOS and record is not None:
            size = _mysql_literal_bytes(record)
            if size < MYSQL_SMALLEST_PACKET_LIMIT:
                return None
            limit = _mysql_packet_limit(connection)
            if limit is not None and size >= limit:
                return Oversize(size, limit, "max_allowed_packet")
        return None
    if connection.vendor == "postgresql":
        # Whatever PostgreSQL answers ("invalid message length" and a closed connection,
        # "invalid memory alloc request size", out of memory), a write this large never fits.
        if record is not None and _upper_bound_bytes(record) >= POSTGRES_SIZE_LIMIT:
            size = _utf8_bytes(record)
            if size >= POSTGRES_SIZE_LIMIT:
                return Oversize(size, POSTGRES_SIZE_LIMIT, "PostgreSQL limit")
        return None
    if connection.vendor == "sqlite":
        code = getattr(driver_exc, "sqlite_errorcode", None)  # Python 3.11+
        too_big = isinstance(code, int) and code & 0xFF == SQLITE_TOOBIG
        if too_big or SQLITE_TOOBIG_MESSAGE in str(driver_exc).lower():
            size = None if record is None else _utf8_bytes(record)
            return Oversize(size, _sqlite_length_limit(connection), "SQLITE_LIMIT_LENGTH")
    return None


def _mysql_packet_limit(connection: BaseDatabaseWrapper) -> int | None:
    """The server's ``max_allowed_packet``, asked on a connection of its own (None if unknown).

    The failed connection is usually dead (the server closes it after refusing a packet), and
    the limit that matters is the one a retry would meet on a new connection anyway. The
    look-up happens only when a write failed, so it costs nothing on the paths that work.
    """
    params: dict[str, Any] = dict(connection.get_connection_params())
    timeout = params.get("connect_timeout") or MYSQL_LIMIT_LOOKUP_TIMEOUT
    params["connect_timeout"] = min(int(timeout), MYSQL_LIMIT_LOOKUP_TIMEOUT)
    try:
        raw = connection.get_new_connection(params)
    except Exception:  # the server is unreachable: the limit stays unknown
        return None
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT @@max_allowed_packet")
        row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            raw.close()


def _sqlite_length_limit(connection: BaseDatabaseWrapper) -> int | None:
    raw = connection.connection
    getlimit = getattr(raw, "getlimit", None)  # sqlite3.Connection.getlimit: Python 3.11+
    if getlimit is None:
        return None
    try:
        limit: int = getlimit(connection.Database.SQLITE_LIMIT_LENGTH)  # type: ignore[attr-defined]
    except Exception:
        return None
    return limit


def _record_name(record: WrittenRecord) -> str:
    if isinstance(record, TaskRecord):
        return f"the result of task {record.task_id!r}"
    if isinstance(record, GroupRecord):
        return f"group {record.group_id!r}"
    return f"the chord counter of group {record.group_id!r}"


def _texts(record: WrittenRecord) -> list[str]:
    values = (getattr(record, field.name) for field in attrs.fields(type(record)))
    return [value for value in values if isinstance(value, str)]


def _utf8_bytes(record: WrittenRecord) -> int:
    """The bytes of the record's text in UTF-8 (what a driver binding parameters sends)."""
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in _texts(record))


def _upper_bound_bytes(record: WrittenRecord) -> int:
    """At least the record's UTF-8 size, without encoding anything (4 bytes per character)."""
    return sum(4 * len(text) for text in _texts(record))


def _mysql_literal_bytes(record: WrittenRecord) -> int:
    """The bytes of the record's text as quoted, escaped literals in a MySQL statement.

    MySQLdb interpolates parameters into the statement text, so the packet is at least this
    long (the SQL around the literals adds a few hundred bytes more).
    """
    size = 0
    for text in _texts(record):
        escapes = sum(map(text.count, MYSQL_ESCAPED_CHARACTERS))
        size += len(text.encode("utf-8", "surrogatepass")) + escapes + 2
    return size


def _reset_if_unusable(connection: BaseDatabaseWrapper, exc: BaseException, broken: bool) -> None:
    """Close ``connection`` if ``exc`` left it unusable, so that its next use reconnects.

    ``broken``: the error is already known to mean a lost connection. Otherwise the connection
    is checked (one round trip) after the errors Django itself doubts a connection for: every
    error but ``DataError`` and ``IntegrityError`` (Django's ``errors_occurred`` flag), and
    driver errors that bypassed Django's wrapper.
    """
    if connection.connection is None or connection.in_atomic_block:
        return
    if not broken:
        doubtful = connection.errors_occurred or not isinstance(exc, DjangoDatabaseError)
        if not doubtful:
            return
        try:
            if connection.is_usable():
                return
        except Exception:  # a check that fails says the same as one that answers False
            pass
    # Closing a broken connection can itself fail; Django forgets it either way.
    with contextlib.suppress(Exception):
        connection.close()
