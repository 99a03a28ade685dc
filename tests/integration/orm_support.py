"""What the ORM repository tests share: markers, query capture, table reads.

The tests of ``adapters/django_orm`` are split by concern (``test_orm_*.py``); the helpers they
have in common live here (the portable-SQL repositories are ``tests/portable_sql.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_celery_results.adapters.django_orm.models import TaskResult
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.results import ResultStore
from tests import settings as test_settings
from tests.contract import full_task
from tests.fakes import FrozenClock

__all__ = [
    "ALL",
    "close_thread_connections",
    "queries_on",
    "result_store",
    "server_aliases",
    "stored_row",
    "transactional",
    "warm_up",
]

ALL = "__all__"
#: Tests that need other threads or connections to see their rows (or kill a connection)
#: cannot run inside the test's transaction.
transactional = pytest.mark.django_db(databases=ALL, transaction=True)


def close_thread_connections() -> None:
    """Close this thread's database connections (a contract's worker thread is done)."""
    # Each thread opens its own connections; close them or the test database cannot be dropped.
    for connection in connections.all(initialized_only=True):
        connection.close()


def server_aliases() -> list[Any]:
    """The configured database servers (PostgreSQL, MariaDB) as parameters, or one skip."""
    return [
        pytest.param(alias, id=alias)
        for alias in ("postgres", "mariadb")
        if alias in test_settings.DATABASES
    ] or [pytest.param("postgres", marks=pytest.mark.skip(reason="no database server"))]


def queries_on(alias: str) -> CaptureQueriesContext:
    """Capture the statements sent on ``alias``'s connection (this thread's)."""
    return CaptureQueriesContext(connections[alias])


def stored_row(alias: str, task_id: str) -> dict[str, Any]:
    """The task's row as the table holds it, read with plain SQL (no repository mapping)."""
    table = TaskResult._meta.db_table
    connection = connections[alias]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('status')}, {quote('result')}, {quote('worker')} "
            f"FROM {quote(table)} WHERE {quote('task_id')} = %s",
            [task_id],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    status, result, worker = rows[0]
    return {"status": status, "result": result, "worker": worker}


def warm_up(alias: str) -> None:
    """Open the connection and let the backend cache its server facts before counting."""
    DjangoTaskRepository(using=alias).store(full_task("warm-up", status=states.PENDING))
    DjangoTaskRepository(using=alias).delete("warm-up")


def result_store(alias: str | None, clock: FrozenClock | None = None) -> ResultStore:
    """The domain's use cases over the ORM repositories of ``alias``."""
    return ResultStore(
        tasks=DjangoTaskRepository(using=alias),
        groups=DjangoGroupRepository(using=alias),
        chords=DjangoChordCounterRepository(using=alias),
        clock=clock or FrozenClock(),
    )
