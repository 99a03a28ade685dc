"""Both sides of every version- or driver-dependent branch in src/, in one environment (issue 11).

The matrix's cells each take one side of these conditions (psycopg 3 or psycopg2, Python 3.10 or
3.11+, the SQLite every Python here links); the other side is reached here with fakes, and each
test asserts what the branch decides (the classification, the chosen dialect, the SQL text).
No database is touched: connections and driver errors are stand-ins, except the raw ``sqlite3``
errors provoked on a file of the test's own, which show what the installed Python really gives.
docs/compatibility-survey.md ("Version conditions and their tests") maps each branch to its tests.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from celery import Celery
from django.db.utils import OperationalError as DjangoOperationalError

from django_celery_results.adapters import db_errors
from django_celery_results.adapters.django_orm import errors as orm_errors
from django_celery_results.adapters.django_orm.bound import BoundTable, _connection_charset
from django_celery_results.adapters.django_orm.dialects import (
    DuplicateKeyDialect,
    OnConflictDialect,
    PortableDialect,
    SqlDialect,
    dialect_for,
)
from django_celery_results.adapters.django_orm.task_repository import TASK_FIELDS
from django_celery_results.celery_bridge.serialization import KombuSerializer
from django_celery_results.celery_bridge.task_meta import RecordTranslation
from django_celery_results.domain.records import TaskRecord
from tests.contract import full_task

# -- fakes ----------------------------------------------------------------------------------------


class _Columns(dict[str, str]):
    """Every column name, quoted with backticks (what MySQL's ``quote_name`` gives)."""

    def __missing__(self, key: str) -> str:
        return f"`{key}`"


def _bound() -> BoundTable:
    """A stand-in ``BoundTable`` with what the dialects read: table, pk and column names."""
    return cast(BoundTable, SimpleNamespace(table="`t`", pk="`id`", columns=_Columns()))


def _sqlite(version: tuple[int, ...]) -> Any:
    """A stand-in SQLite connection whose driver links SQLite ``version``."""
    return SimpleNamespace(vendor="sqlite", Database=SimpleNamespace(sqlite_version_info=version))


def _mysql(**server: Any) -> Any:
    """A stand-in MySQL-family connection with ``mysql_is_mariadb`` / ``mysql_version`` set."""
    return SimpleNamespace(vendor="mysql", **server)


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The vendor ``is_transient`` sees for any alias: set ``vendor[0]`` (no real connection)."""
    current: list[str | None] = ["sqlite"]

    def connection(alias: str) -> Any:
        return SimpleNamespace(vendor=current[0])

    monkeypatch.setattr(db_errors, "database_connection", connection)
    return current


def _wrapped(cause: BaseException) -> DjangoOperationalError:
    """``cause`` under Django's wrapper, as a cursor call raises it."""
    wrapped = DjangoOperationalError(*cause.args)
    wrapped.__cause__ = cause
    return wrapped


# -- PostgreSQL: psycopg 3's ``sqlstate``, psycopg2's ``pgcode`` (db_errors._postgres_transient) --


class Psycopg3Error(Exception):
    """psycopg 3's shape: ``sqlstate``, no ``pgcode``."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("server error")
        self.sqlstate = sqlstate


class Psycopg2Error(Exception):
    """psycopg2's shape: ``pgcode``, no ``sqlstate``."""

    def __init__(self, pgcode: str | None) -> None:
        super().__init__("server error")
        self.pgcode = pgcode


POSTGRES_CODES = [
    ("40P01", True),  # deadlock_detected
    ("40001", True),  # serialization_failure
    ("55P03", True),  # lock_not_available
    ("57P01", True),  # admin_shutdown
    ("53300", True),  # too_many_connections
    ("08006", True),  # connection_failure: class 08
    ("08001", True),  # sqlclient_unable_to_establish_sqlconnection: class 08
    ("42601", False),  # syntax_error
    ("23505", False),  # unique_violation
    ("22001", False),  # string_data_right_truncation
]


@pytest.mark.parametrize("driver", [Psycopg3Error, Psycopg2Error], ids=["sqlstate", "pgcode"])
@pytest.mark.parametrize(("code", "transient"), POSTGRES_CODES)
def test_postgres_error_is_classified_by_either_drivers_attribute(
    vendor: list[str | None], driver: type[Exception], code: str, transient: bool
) -> None:
    """The SQLSTATE decides, whether the driver names it ``sqlstate`` or ``pgcode``."""
    vendor[0] = "postgresql"
    error = driver(code)
    # Each fake carries one attribute only, so each run takes one side of the ``or``.
    assert hasattr(error, "sqlstate") is (driver is Psycopg3Error)
    assert hasattr(error, "pgcode") is (driver is Psycopg2Error)
    assert db_errors.is_transient(_wrapped(error), "postgres") is transient
    assert db_errors.is_transient(error, "postgres") is transient  # not wrapped by Django


@pytest.mark.parametrize("driver", [Psycopg3Error, Psycopg2Error], ids=["sqlstate", "pgcode"])
def test_postgres_client_error_without_sqlstate_is_judged_by_its_class(
    vendor: list[str | None], driver: type[Exception]
) -> None:
    """No SQLSTATE (the client library's own error): an OperationalError is transient."""
    vendor[0] = "postgresql"
    lost = type("OperationalError", (driver,), {})(None)
    other = type("ProgrammingError", (driver,), {})(None)
    assert db_errors.is_transient(_wrapped(lost), "postgres") is True
    assert db_errors.is_transient(_wrapped(other), "postgres") is False


def test_postgres_error_without_either_attribute_is_judged_by_its_class(
    vendor: list[str | None],
) -> None:
    """An error with neither attribute (another driver) falls back to its class name."""
    vendor[0] = "postgresql"
    assert db_errors.is_transient(type("OperationalError", (Exception,), {})("x"), "p") is True
    assert db_errors.is_transient(type("DataError", (Exception,), {})("x"), "p") is False


# -- SQLite: ``sqlite_errorcode`` (Python 3.11+) or the message (3.10) -----------------------------


def _sqlite_error(message: str, code: int | None) -> sqlite3.OperationalError:
    """A sqlite3 error with ``message``; with ``sqlite_errorcode`` only when ``code`` is given.

    A sqlite3 error built by hand has no ``sqlite_errorcode`` on any Python (only SQLite's own
    answer sets it), so without ``code`` this is the error Python 3.10 raises.
    """
    error = sqlite3.OperationalError(message)
    assert not hasattr(error, "sqlite_errorcode")
    if code is not None:
        error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (5, True),  # SQLITE_BUSY
        (6, True),  # SQLITE_LOCKED
        (517, True),  # SQLITE_BUSY_SNAPSHOT: extended codes keep the primary in the low byte
        (261, True),  # SQLITE_BUSY_RECOVERY
        (262, True),  # SQLITE_LOCKED_SHAREDCACHE
        (1, False),  # SQLITE_ERROR
        (18, False),  # SQLITE_TOOBIG
        (2067, False),  # SQLITE_CONSTRAINT_UNIQUE
    ],
)
def test_sqlite_error_code_decides_where_python_gives_one(
    vendor: list[str | None], code: int, transient: bool
) -> None:
    """Python 3.11+: the primary result code decides, whatever the message says."""
    error = _sqlite_error("step failed", code)  # a message none of the fallbacks match
    assert db_errors.is_transient(_wrapped(error), "default") is transient


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("database is locked", True),
        ("database table is locked", True),
        ("database table is locked: t", True),
        ("Database Is Locked", True),
        ("busy", True),
        ('near "x": syntax error', False),
        ("UNIQUE constraint failed: t.task_id", False),
        ("no such table: t", False),
    ],
)
def test_sqlite_message_decides_without_an_error_code(
    vendor: list[str | None], message: str, transient: bool
) -> None:
    """Python 3.10 (no ``sqlite_errorcode``): the message decides."""
    error = _sqlite_error(message, None)
    assert db_errors.is_transient(_wrapped(error), "default") is transient


def test_sqlite_message_still_counts_beside_a_code(vendor: list[str | None]) -> None:
    """A code that is not BUSY/LOCKED does not hide a "database is locked" message."""
    assert db_errors.is_transient(_wrapped(_sqlite_error("database is locked", 1)), "x") is True


def test_real_sqlite_lock_error_matches_the_fakes(vendor: list[str | None], tmp_path: Path) -> None:
    """What this Python's sqlite3 really raises for a lock: a code on 3.11+, a message always."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as raised:
            waiter.execute("INSERT INTO t VALUES (1)")
    finally:
        waiter.close()
        holder.close()
    error = raised.value
    assert "database is locked" in str(error)
    if sys.version_info >= (3, 11):
        assert getattr(error, "sqlite_errorcode", None) == 5  # SQLITE_BUSY
    else:
        assert not hasattr(error, "sqlite_errorcode")
    assert db_errors.is_transient(_wrapped(error), "default") is True


# -- SQLite too large: ``sqlite_errorcode`` 18 or the message; ``getlimit`` (3.11+) for the limit --


class _RawWithLimit:
    """A sqlite3 connection of Python 3.11+: ``getlimit`` answers the length limit."""

    def __init__(self, limit: int | Exception) -> None:
        self.limit = limit

    def getlimit(self, category: int) -> int:
        assert category == 0  # the fake Database's SQLITE_LIMIT_LENGTH
        if isinstance(self.limit, Exception):
            raise self.limit
        return self.limit


def _sqlite_wrapper(raw: Any) -> Any:
    """A stand-in Django SQLite connection over the raw connection ``raw``."""
    return SimpleNamespace(
        vendor="sqlite", connection=raw, Database=SimpleNamespace(SQLITE_LIMIT_LENGTH=0)
    )


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("step failed", 18),  # 3.11+: the code alone says SQLITE_TOOBIG
        ("string or blob too big", None),  # 3.10: the message alone says it
        ("String or BLOB too big", None),
    ],
)
def test_sqlite_too_big_is_recognised_by_code_or_message(message: str, code: int | None) -> None:
    """Either way the write is an Oversize (permanent) naming SQLite's limit."""
    record = full_task()
    found = orm_errors._oversize(
        _wrapped(_sqlite_error(message, code)), _sqlite_wrapper(_RawWithLimit(1000)), record
    )
    assert found == orm_errors.Oversize(orm_errors._utf8_bytes(record), 1000, "SQLITE_LIMIT_LENGTH")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("step failed", 19),
        ("UNIQUE constraint failed: t.task_id", 2067),
        ("database is locked", None),
    ],
)
def test_other_sqlite_errors_are_not_too_big(message: str, code: int | None) -> None:
    """Neither the code nor the message says too big: no Oversize."""
    error = _wrapped(_sqlite_error(message, code))
    assert orm_errors._oversize(error, _sqlite_wrapper(_RawWithLimit(1000)), full_task()) is None


def test_sqlite_limit_is_read_where_the_driver_can_getlimit() -> None:
    """Python 3.11+: the limit is asked of the connection, and the message states it."""
    assert orm_errors._sqlite_length_limit(_sqlite_wrapper(_RawWithLimit(123_456))) == 123_456
    record = full_task()
    message = _describe_too_big(_sqlite_wrapper(_RawWithLimit(123_456)), record)
    assert "over the SQLITE_LIMIT_LENGTH of 123456 bytes" in message


def test_sqlite_limit_is_unknown_without_getlimit() -> None:
    """Python 3.10 (no ``getlimit``), a failing ``getlimit``, no connection: the limit is None."""
    assert orm_errors._sqlite_length_limit(_sqlite_wrapper(object())) is None
    assert orm_errors._sqlite_length_limit(_sqlite_wrapper(None)) is None
    failing = _RawWithLimit(sqlite3.ProgrammingError("closed"))
    assert orm_errors._sqlite_length_limit(_sqlite_wrapper(failing)) is None
    message = _describe_too_big(_sqlite_wrapper(object()), full_task())
    assert "over the SQLITE_LIMIT_LENGTH on database 'default'" in message  # no "of N bytes"


def _describe_too_big(wrapper: Any, record: TaskRecord) -> str:
    error = _wrapped(_sqlite_error("string or blob too big", None))
    found = orm_errors._oversize(error, wrapper, record)
    assert found is not None
    return found.describe(record, "default", error)


def test_real_connection_has_getlimit_exactly_on_python_3_11() -> None:
    """What this Python's sqlite3 really offers: ``getlimit`` from 3.11 on."""
    raw = sqlite3.connect(":memory:")
    try:
        assert hasattr(raw, "getlimit") is (sys.version_info >= (3, 11))
        assert hasattr(sqlite3, "SQLITE_LIMIT_LENGTH") is (sys.version_info >= (3, 11))
    finally:
        raw.close()


# -- SQLite's version: upsert from 3.24, RETURNING from 3.35 (dialects.dialect_for) ----------------


@pytest.mark.parametrize(
    ("version", "family", "returning"),
    [
        ((3, 21, 0), PortableDialect, False),  # Django 4.2's oldest SQLite
        ((3, 23, 1), PortableDialect, False),
        ((3, 24, 0), OnConflictDialect, False),
        ((3, 34, 0), OnConflictDialect, False),
        ((3, 34, 1), OnConflictDialect, False),
        ((3, 35, 0), OnConflictDialect, True),
        ((3, 45, 0), OnConflictDialect, True),
    ],
)
def test_sqlite_dialect_follows_the_linked_sqlite(
    version: tuple[int, ...], family: type[SqlDialect], returning: bool
) -> None:
    """The linked SQLite's version picks the family and whether the decrement returns."""
    dialect = dialect_for(_sqlite(version))
    assert type(dialect) is family
    assert dialect.decrement_returns_count is returning
    assert dialect.counts_part_in_one_statement is False  # SQLite: no data-modifying CTEs
    decrement = dialect.decrement(_bound())
    assert decrement.endswith(" RETURNING `count`") is returning
    if family is PortableDialect:
        assert dialect.upserts is False
        with pytest.raises(NotImplementedError):
            dialect.task_upsert(_bound(), TASK_FIELDS, "'SUCCESS'")
    else:
        assert dialect.upserts is True
        assert " ON CONFLICT (`task_id`) DO UPDATE SET " in dialect.task_upsert(
            _bound(), TASK_FIELDS, "'SUCCESS'"
        )


def test_the_real_sqlite_follows_the_same_rule() -> None:
    """The SQLite this Python links (3.40 on every matrix Python: the newest side) picks alike."""
    real = sqlite3.sqlite_version_info
    dialect = dialect_for(_sqlite(real))
    assert isinstance(dialect, OnConflictDialect if real >= (3, 24, 0) else PortableDialect)
    assert dialect.decrement_returns_count is (real >= (3, 35, 0))


def test_postgresql_dialect_needs_no_version() -> None:
    """PostgreSQL (any supported server) always returns and runs data-modifying CTEs."""
    dialect = dialect_for(cast(Any, SimpleNamespace(vendor="postgresql")))
    assert isinstance(dialect, OnConflictDialect)
    assert dialect.decrement_returns_count is True
    assert dialect.counts_part_in_one_statement is True


# -- MySQL's row alias vs MariaDB's VALUES() (dialects._mysql_row_alias) ---------------------------


@pytest.mark.parametrize(
    ("server", "row_alias"),
    [
        ({"mysql_is_mariadb": True, "mysql_version": (10, 11, 6)}, False),  # MariaDB
        ({"mysql_is_mariadb": True, "mysql_version": (11, 4, 2)}, False),
        ({"mysql_is_mariadb": False, "mysql_version": (5, 7, 44)}, False),  # MySQL 5.7
        ({"mysql_is_mariadb": False, "mysql_version": (8, 0, 18)}, False),
        ({"mysql_is_mariadb": False, "mysql_version": (8, 0, 19)}, True),  # row alias arrives
        ({"mysql_is_mariadb": False, "mysql_version": (8, 4, 3)}, True),
        ({"mysql_is_mariadb": False, "mysql_version": (9, 1, 0)}, True),
        ({}, False),  # a MySQL backend that says neither (not Django's): the portable form
        ({"mysql_is_mariadb": False}, False),  # no version known: the old form
    ],
)
def test_mysql_upsert_form_follows_the_server(server: dict[str, Any], row_alias: bool) -> None:
    """MySQL >= 8.0.19 names the new row ``AS new``; MariaDB and older MySQL use VALUES(col)."""
    dialect = dialect_for(_mysql(**server))
    assert isinstance(dialect, DuplicateKeyDialect)
    assert dialect.row_alias is row_alias
    bound = _bound()
    task_sql = dialect.task_upsert(bound, TASK_FIELDS, "'SUCCESS'")
    group_sql = dialect.upsert(bound, ["group_id", "result"], "group_id", ["result"])
    for sql in (task_sql, group_sql):
        head, update = sql.split(" ON DUPLICATE KEY UPDATE ")
        assert head.endswith(" AS new") is row_alias
        if row_alias:
            assert "VALUES(" not in update
            assert "new.`result`" in update
        else:
            assert "new." not in update
            assert "VALUES(`result`)" in update
    assert group_sql.endswith(
        "`result` = new.`result`" if row_alias else "`result` = VALUES(`result`)"
    )


def test_mysql_server_is_not_asked_when_the_family_is_not_duplicate_key() -> None:
    """A repository that sends MySQL down the portable path never reads the server's kind."""

    class Server:
        vendor = "mysql"

        @property
        def mysql_is_mariadb(self) -> bool:
            raise AssertionError("asked the server")

    assert isinstance(dialect_for(cast(Any, Server()), {}), PortableDialect)
    with pytest.raises(AssertionError, match="asked the server"):
        dialect_for(cast(Any, Server()))


# -- Celery's task protocol: ``argsrepr`` (protocol 2) or the raw arguments (protocol 1) ----------


@pytest.mark.parametrize(
    ("shown", "expected_args", "expected_kwargs"),
    [
        (
            {"argsrepr": "(1, '***')", "kwargsrepr": "{'key': '***'}"},
            "(1, '***')",
            "{'key': '***'}",
        ),
        ({}, [1, "secret"], {"key": "secret"}),  # protocol 1: no argsrepr / kwargsrepr
        ({"argsrepr": None, "kwargsrepr": None}, [1, "secret"], {"key": "secret"}),
    ],
    ids=["protocol-2", "protocol-1", "protocol-2-unset"],
)
def test_extended_arguments_are_the_shown_ones_else_the_raw_ones(
    shown: dict[str, Any], expected_args: Any, expected_kwargs: Any
) -> None:
    """``result_extended`` stores argsrepr/kwargsrepr where the message has them, else args."""
    app = Celery("version-conditions", set_as_current=False)
    app.conf.result_extended = True
    serializer = KombuSerializer("json", None)
    translation = RecordTranslation(app, serializer, lambda request: None)
    request = SimpleNamespace(
        id="t", task="tests.add", args=[1, "secret"], kwargs={"key": "secret"}, **shown
    )
    record = translation.task_record("t", "null", "SUCCESS", None, request)
    assert record.task_args is not None
    assert record.task_kwargs is not None
    assert serializer.loads(record.task_args, "application/json", "utf-8") == expected_args
    assert serializer.loads(record.task_kwargs, "application/json", "utf-8") == expected_kwargs


# -- mysqlclient's negotiated character set, or none from another MySQL driver -------------------


def test_mysql_connection_charset_is_read_where_the_driver_tells_it() -> None:
    """The charset mysqlclient negotiated; None from a driver without ``character_set_name``."""
    mysqlclient = SimpleNamespace(character_set_name=lambda: "utf8mb4")
    assert _connection_charset(cast(Any, SimpleNamespace(connection=mysqlclient))) == "utf8mb4"
    assert _connection_charset(cast(Any, SimpleNamespace(connection=object()))) is None
    assert _connection_charset(cast(Any, SimpleNamespace(connection=None))) is None
