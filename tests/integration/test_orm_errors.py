"""Error translation in the ORM repositories: killed connections, locks, driver errors."""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.utils import DatabaseError, OperationalError

from django_celery_results.adapters.django_orm.bound import BoundTable
from django_celery_results.adapters.django_orm.errors import is_transient, translate_errors
from django_celery_results.adapters.django_orm.repositories import (
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import (
    PermanentStorageError,
    TransientStorageError,
)
from tests.contract import (
    full_task,
)
from tests.integration.orm_support import ALL, server_aliases, transactional

pytestmark = pytest.mark.django_db(databases=ALL)


# -- error translation ----------------------------------------------------------------------------


def _backend_id(alias: str) -> int:
    connection = connections[alias]
    connection.ensure_connection()
    query = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
    with connection.cursor() as cursor:
        cursor.execute(query[connection.vendor])
        return int(cursor.fetchone()[0])


def _kill_from_another_connection(alias: str, backend_id: int) -> None:
    """Terminate ``alias``'s server session from a separate, raw driver connection."""
    settings_dict = connections[alias].settings_dict
    if connections[alias].vendor == "postgresql":
        from tests.pg_admin import execute

        execute(
            "SELECT pg_terminate_backend(%s)",
            [backend_id],
            host=settings_dict["HOST"],
            port=settings_dict["PORT"],
            user=settings_dict["USER"],
        )
    else:
        import MySQLdb

        admin = MySQLdb.connect(
            host=settings_dict["HOST"],
            port=int(settings_dict["PORT"]),
            user=settings_dict["USER"],
            password=settings_dict["PASSWORD"],
        )
        try:
            admin.cursor().execute(f"KILL {int(backend_id)}")
        finally:
            admin.close()


@transactional
@pytest.mark.parametrize("alias", server_aliases())
def test_killed_connection_is_transient_and_resets_only_that_alias(alias: str) -> None:
    """A killed session raises TransientStorageError(alias) and resets that alias, not default."""
    repo = DjangoTaskRepository(using=alias)
    repo.store(full_task())
    default = connections["default"]
    default.ensure_connection()
    default_before = default.connection
    _kill_from_another_connection(alias, _backend_id(alias))

    with pytest.raises(TransientStorageError) as raised:
        repo.get("task-1")

    assert raised.value.alias == alias
    assert isinstance(raised.value.__cause__, DatabaseError)
    assert connections[alias].connection is None  # reset: the next call reconnects
    assert default.connection is default_before  # the default alias is untouched
    stored = repo.get("task-1")  # what Celery's retry would do
    assert stored is not None
    assert stored.status == states.SUCCESS


@transactional
@pytest.mark.parametrize("alias", server_aliases())
def test_killed_connection_inside_atomic_is_left_to_the_transaction(alias: str) -> None:
    """Inside atomic() the error is still transient, but the connection is the block's to close."""
    repo = DjangoTaskRepository(using=alias)
    inside: list[bool] = []

    def store_in_a_transaction() -> None:
        with transaction.atomic(using=alias):
            _kill_from_another_connection(alias, _backend_id(alias))
            try:
                repo.store(full_task())
            finally:
                connection = connections[alias]
                inside.append(connection.in_atomic_block and connection.connection is not None)

    with pytest.raises(TransientStorageError) as raised:
        store_in_a_transaction()
    assert inside == [True]  # not closed under the block's feet
    assert raised.value.alias == alias
    assert repo.get("task-1") is None  # reconnected after the block; nothing was stored


@transactional
def test_locked_sqlite_database_is_transient() -> None:
    """SQLite's "database is locked" is a TransientStorageError on that alias, which is reset."""
    alias = "default"
    connection = connections[alias]
    repo = DjangoTaskRepository(using=alias)
    repo.store(full_task("before"))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")  # this connection only; reset clears it
    locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(TransientStorageError) as raised:
            repo.store(full_task())
    finally:
        locker.close()
    assert raised.value.alias == alias
    assert "locked" in str(raised.value)
    assert isinstance(raised.value.__cause__, OperationalError)
    assert connection.connection is None
    assert repo.store(full_task()) is True


@transactional
def test_data_error_is_permanent_and_keeps_the_connection(db_alias: str) -> None:
    """A value the database refuses (status wider than its column) is a PermanentStorageError."""
    if connections[db_alias].vendor == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    repo = DjangoTaskRepository(using=db_alias)
    connections[db_alias].ensure_connection()
    before = connections[db_alias].connection
    with pytest.raises(PermanentStorageError) as raised:
        # Bypasses the use case's FieldLimits check on purpose.
        repo.store(full_task(status="S" * 51))
    assert raised.value.alias == db_alias
    assert isinstance(raised.value.__cause__, DatabaseError)
    assert connections[db_alias].connection is before


def test_missing_table_is_permanent(db_alias: str) -> None:
    """A statement on a table that does not exist is a PermanentStorageError (never retried)."""

    class NoTable(DjangoTaskRepository):
        def bound(self, connection: Any) -> BoundTable:
            bound = copy.copy(super().bound(connection))  # delete_by caches no statement
            bound.table = str(connection.ops.quote_name("no_such_table_here"))
            return bound

    # raises() outside atomic(): the block sees the error and rolls its savepoint back.
    with pytest.raises(PermanentStorageError) as raised, transaction.atomic(using=db_alias):
        NoTable(using=db_alias).delete("x")
    assert raised.value.alias == db_alias


def _driver_error(alias: str, kind: str) -> BaseException:
    """A driver exception of ``kind`` for the vendor of ``alias``, wrapped as Django wraps it."""
    vendor = connections[alias].vendor
    cause: BaseException
    if vendor == "postgresql":
        from tests.pg_admin import server_error

        sqlstate = {
            "deadlock": "40P01",
            "serialization": "40001",
            "lock_timeout": "55P03",
            "admin_shutdown": "57P01",
            "connection": "08006",
            "syntax": "42601",
            "unique": "23505",
        }[kind]
        # Raised by the server: a psycopg2 error built by hand has no ``pgcode``.
        settings_dict = connections[alias].settings_dict
        cause = server_error(
            sqlstate,
            kind,
            host=settings_dict["HOST"],
            port=settings_dict["PORT"],
            user=settings_dict["USER"],
        )
    elif vendor == "mysql":
        import MySQLdb

        errno = {
            "deadlock": 1213,
            "serialization": 1213,
            "lock_timeout": 1205,
            "admin_shutdown": 1927,
            "connection": 2013,
            "syntax": 1064,
            "unique": 1062,
        }[kind]
        exc_type = MySQLdb.IntegrityError if kind == "unique" else MySQLdb.OperationalError
        cause = exc_type(errno, kind)
    else:
        message = {
            "deadlock": "database is locked",
            "serialization": "database is locked",
            "lock_timeout": "database table is locked",
            "admin_shutdown": "database is locked",
            "connection": "database is locked",
            "syntax": 'near "x": syntax error',
            "unique": "UNIQUE constraint failed: t.task_id",
        }[kind]
        cause = sqlite3.OperationalError(message)
    wrapped = OperationalError(*cause.args)
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    ("kind", "transient"),
    [
        ("deadlock", True),
        ("serialization", True),
        ("lock_timeout", True),
        ("admin_shutdown", True),
        ("connection", True),
        ("syntax", False),
        ("unique", False),
    ],
)
def test_driver_errors_are_classified(db_alias: str, kind: str, transient: bool) -> None:
    """Deadlocks, lock timeouts, shutdowns and lost connections are transient; the rest is not."""
    error = _driver_error(db_alias, kind)
    assert is_transient(error, db_alias) is transient
    expected = TransientStorageError if transient else PermanentStorageError
    # Inside atomic(): classification only, the test's connection stays open.
    with (
        transaction.atomic(using=db_alias),
        pytest.raises(expected) as raised,
        translate_errors(db_alias),
    ):
        raise error
    assert raised.value.alias == db_alias
    assert raised.value.__cause__ is error


def test_unwrapped_driver_errors_are_translated(db_alias: str) -> None:
    """A driver exception that escaped Django's wrapper is translated all the same."""
    cause = _driver_error(db_alias, "syntax").__cause__
    assert cause is not None
    with pytest.raises(PermanentStorageError) as raised, translate_errors(db_alias):
        raise cause
    assert raised.value.__cause__ is cause


def test_other_exceptions_pass_through() -> None:
    """A non-database exception, or a domain error, leaves translate_errors unchanged."""
    with pytest.raises(KeyError), translate_errors("default"):
        raise KeyError("bug")
    original = TransientStorageError("already translated", alias="postgres")
    with pytest.raises(TransientStorageError) as raised, translate_errors("default"):
        raise original
    assert raised.value is original


def test_translate_errors_is_a_decorator() -> None:
    """translate_errors(alias) decorates a function as well as wrapping a block."""

    @translate_errors("default")
    def fail() -> None:
        raise DatabaseError("no such table: nowhere")

    with pytest.raises(PermanentStorageError, match="no such table"):
        fail()
