"""Version- and driver-dependent branches of the ORM adapter, on real databases (issue 11).

tests/unit/test_version_conditions.py reaches every side of these branches with fakes; here each
side runs against a real connection: SQLite's dialect at the versions that change it (the
version the branch reads is set by the test, the SQL runs on the SQLite this Python links),
SQLite driver errors through ``translate_errors`` on a real alias, MariaDB's ``VALUES()`` form
(and MariaDB refusing MySQL's row alias), and the attribute the installed PostgreSQL driver
really sets. docs/compatibility-survey.md ("Version conditions and their tests") maps each
branch to its tests.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.utils import OperationalError as DjangoOperationalError

from django_celery_results.adapters.django_orm import dialects
from django_celery_results.adapters.django_orm.dialects import (
    DuplicateKeyDialect,
    OnConflictDialect,
    PortableDialect,
    dialect_for,
)
from django_celery_results.adapters.django_orm.errors import is_transient, translate_errors
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import PermanentStorageError, TransientStorageError
from tests import settings as test_settings
from tests.contract import full_group, full_task
from tests.contract.support import make_counter
from tests.integration.orm_support import ALL, queries_on, warm_up

pytestmark = pytest.mark.django_db(databases=ALL)

OLD = (3, 23, 1)  # before upserts: the portable statements
NO_RETURNING = (3, 34, 0)  # upserts, but no RETURNING
NEWEST = (3, 45, 0)


def _statements_on(captured: Any, table: str) -> list[str]:
    """The captured statements that touch ``table`` (savepoints and the like left out)."""
    return [query["sql"] for query in captured.captured_queries if table in query["sql"]]


@pytest.fixture(params=[OLD, NO_RETURNING, NEWEST], ids=["3.23", "3.34", "3.45"])
def sqlite_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SQLite version the dialect choice reads (the statements run on the real SQLite)."""
    version: tuple[int, ...] = request.param
    # Only our reading of the version is replaced: patching sqlite3.sqlite_version_info would
    # also reach Django's own SQLite features, cached for the rest of the session.
    monkeypatch.setattr(dialects, "_sqlite_version", lambda connection: version)
    return version


def test_sqlite_task_and_group_writes_take_the_versions_statements(
    sqlite_version: tuple[int, ...],
) -> None:
    """< 3.24: UPDATE then INSERT; from 3.24: one ON CONFLICT upsert. The outcome is the same."""
    alias = "default"
    tasks, groups = DjangoTaskRepository(using=alias), DjangoGroupRepository(using=alias)
    upserts = sqlite_version >= (3, 24, 0)
    assert isinstance(
        tasks.dialect(connections[alias]), OnConflictDialect if upserts else PortableDialect
    )
    warm_up(alias)
    with queries_on(alias) as captured:
        assert tasks.store(full_task(status=states.STARTED)) is True
        assert tasks.store(full_task(status=states.SUCCESS)) is True
        assert tasks.store(full_task(status=states.FAILURE)) is False  # SUCCESS is kept
        groups.save(full_group())
        groups.save(full_group(result="replaced"))
    stored = tasks.get("task-1")
    assert stored is not None
    assert stored.status == states.SUCCESS
    group = groups.get("group-1")
    assert group is not None
    assert group.result == "replaced"
    written = [
        sql
        for sql in _statements_on(captured, "django_celery_results_")
        if not sql.lstrip().upper().startswith("SELECT")
    ]
    if upserts:
        assert len(written) == 5, written  # one statement per write
        assert all(" ON CONFLICT " in sql for sql in written), written
    else:
        assert not any("ON CONFLICT" in sql for sql in written), written
        assert any(sql.startswith("UPDATE ") for sql in written), written
        assert any(sql.startswith("INSERT ") for sql in written), written


def test_sqlite_chord_decrement_returns_the_count_only_from_3_35(
    sqlite_version: tuple[int, ...],
) -> None:
    """From 3.35 the decrement answers the count (RETURNING); before, a SELECT reads it back."""
    alias = "default"
    chords = DjangoChordCounterRepository(using=alias)
    returning = sqlite_version >= (3, 35, 0)
    assert chords.dialect(connections[alias]).decrement_returns_count is returning
    warm_up(alias)
    chords.create(make_counter(group_id="g", sub_tasks="[]", count=2))
    with queries_on(alias) as captured:
        counts = [chords.decrement("g"), chords.decrement("g"), chords.decrement("g")]
    assert counts == [1, 0, 0]  # never below zero
    assert chords.decrement("missing") is None
    decrements = [sql for sql in _statements_on(captured, "chordcounter") if "- 1" in sql]
    assert len(decrements) == 3, decrements
    assert all(sql.endswith(' RETURNING "count"') is returning for sql in decrements), decrements
    reads = [sql for sql in _statements_on(captured, "chordcounter") if sql.startswith("SELECT")]
    # Without RETURNING each decrement reads its count back; with it, only the one that
    # lowered nothing asks whether the counter exists.
    assert len(reads) == (3 if not returning else 1), reads


# -- SQLite driver errors through translate_errors on the real alias -------------------------------


def _sqlite_error(message: str, code: int | None) -> DjangoOperationalError:
    """Django's wrapper over a sqlite3 error; with ``sqlite_errorcode`` (3.11+) if ``code``."""
    cause = sqlite3.OperationalError(message)
    if code is not None:
        cause.sqlite_errorcode = code  # type: ignore[attr-defined]
    wrapped = DjangoOperationalError(*cause.args)
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    ("message", "code", "expected"),
    [
        ("step failed", 5, TransientStorageError),  # 3.11+: SQLITE_BUSY by its code alone
        ("step failed", 6, TransientStorageError),  # SQLITE_LOCKED
        ("database is locked", None, TransientStorageError),  # 3.10: by its message alone
        ("step failed", 1, PermanentStorageError),
        ("no such table: t", None, PermanentStorageError),
    ],
)
def test_sqlite_errors_translate_by_code_or_message(
    message: str, code: int | None, expected: type[Exception]
) -> None:
    """On the real SQLite alias, a lock is transient by its code (3.11+) or its message (3.10)."""
    error = _sqlite_error(message, code)
    assert is_transient(error, "default") is (expected is TransientStorageError)
    with (
        transaction.atomic(using="default"),
        pytest.raises(expected) as raised,
        translate_errors("default"),
    ):
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    ("message", "code"),
    [("step failed", 18), ("string or blob too big", None)],
    ids=["code", "msg"],
)
def test_sqlite_too_big_names_the_limit_where_the_driver_tells_it(
    message: str, code: int | None
) -> None:
    """SQLITE_TOOBIG (code or message) is permanent; the limit is named where getlimit exists."""
    connection = connections["default"]
    connection.ensure_connection()
    getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
    record = full_task()
    with (
        transaction.atomic(using="default"),
        pytest.raises(PermanentStorageError) as raised,
        translate_errors("default", writing=record),
    ):
        raise _sqlite_error(message, code)
    text = str(raised.value)
    assert "is too large to store" in text
    if getlimit is None:
        assert "over the SQLITE_LIMIT_LENGTH on database 'default'" in text
    else:
        limit = getlimit(sqlite3.SQLITE_LIMIT_LENGTH)  # type: ignore[attr-defined,unused-ignore]
        assert f"over the SQLITE_LIMIT_LENGTH of {limit} bytes" in text


# -- MariaDB: VALUES(col), never MySQL 8's row alias ----------------------------------------------


@pytest.fixture
def mariadb() -> str:
    """The MariaDB alias, or a skip with the probe's reason."""
    if "mariadb" not in test_settings.DATABASES:
        pytest.skip(test_settings.SKIPPED_DATABASES.get("mariadb", "no MariaDB"))
    return "mariadb"


def test_mariadb_upserts_with_values(mariadb: str) -> None:
    """The real server says MariaDB: the upsert names the new row's values with VALUES(col)."""
    connection = connections[mariadb]
    repo = DjangoTaskRepository(using=mariadb)
    warm_up(mariadb)
    assert connection.mysql_is_mariadb is True  # type: ignore[attr-defined]
    dialect = dialect_for(connection)
    assert isinstance(dialect, DuplicateKeyDialect)
    assert dialect.row_alias is False
    with queries_on(mariadb) as captured:
        assert repo.store(full_task(status=states.SUCCESS)) is True
        assert repo.store(full_task(status=states.FAILURE)) is False
    upserts = _statements_on(captured, "ON DUPLICATE KEY UPDATE")
    assert len(upserts) == 2, upserts
    assert all("VALUES(`status`)" in sql and " AS new " not in sql for sql in upserts), upserts


def test_mariadb_refuses_mysqls_row_alias(mariadb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The condition matters: MariaDB rejects the MySQL 8.0.19+ form (a permanent error)."""
    monkeypatch.setattr(dialects, "_mysql_row_alias", lambda connection: True)
    repo = DjangoTaskRepository(using=mariadb)
    assert dialect_for(connections[mariadb]) == DuplicateKeyDialect(row_alias=True)
    with pytest.raises(PermanentStorageError) as raised:
        repo.store(full_task(task_id="row-alias"))
    assert "syntax" in str(raised.value).lower()


# -- PostgreSQL: the attribute the installed driver really sets ------------------------------------


@pytest.fixture
def postgres() -> str:
    """The PostgreSQL alias, or a skip with the probe's reason."""
    if "postgres" not in test_settings.DATABASES:
        pytest.skip(test_settings.SKIPPED_DATABASES.get("postgres", "no PostgreSQL"))
    return "postgres"


@pytest.mark.parametrize(("sqlstate", "transient"), [("40P01", True), ("42601", False)])
def test_postgres_driver_sets_the_attribute_we_read(
    postgres: str, sqlstate: str, transient: bool
) -> None:
    """A real server error carries what we read: ``sqlstate`` (psycopg 3), ``pgcode`` (psycopg2)."""
    from tests.pg_admin import DRIVER_NAME, server_error

    cause = server_error(
        sqlstate,
        "x",
        host=test_settings.PG_HOST,
        port=test_settings.PG_PORT,
        user=test_settings.PG_USER,
    )
    if DRIVER_NAME == "psycopg":
        assert (getattr(cause, "sqlstate", None), hasattr(cause, "pgcode")) == (sqlstate, False)
    else:
        assert DRIVER_NAME == "psycopg2"
        assert (getattr(cause, "pgcode", None), hasattr(cause, "sqlstate")) == (sqlstate, False)
    wrapped = DjangoOperationalError(*cause.args)
    wrapped.__cause__ = cause
    assert is_transient(wrapped, postgres) is transient
