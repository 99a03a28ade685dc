"""Inputs at the edge that must never lose a state: lone surrogates in text, non-str ids.

Issue 9, defects 1 and 3. A failure whose message holds a lone surrogate (``os.fsdecode`` of a
non-UTF-8 file name) made every database driver raise ``UnicodeEncodeError``, so the FAILURE was
never stored; ids given as ``int`` or ``uuid.UUID`` were refused, where the old package stored
their ``str()``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, states
from celery.result import AsyncResult, GroupResult

from django_celery_results.backends import CacheBackend, DatabaseBackend
from django_celery_results.models import GroupResult as GroupResultModel
from django_celery_results.models import TaskResult
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: What ``os.fsdecode`` makes of a file name that is not UTF-8: a lone surrogate (U+DCFF).
BAD_NAME = os.fsdecode(b"/data/bad\xffname.csv")
#: How the surrogate reads once escaped for storage.
ESCAPED = "\\udcff"


class Request:
    """A worker's task request with every extended field carrying a lone surrogate."""

    def __init__(self, task_id: Any, **fields: Any) -> None:
        self.id = task_id
        self.task = fields.pop("task", "tests.import_file")
        self.args = [BAD_NAME]
        self.kwargs = {"path": BAD_NAME}
        self.argsrepr = fields.pop("argsrepr", None)
        self.kwargsrepr = fields.pop("kwargsrepr", None)
        self.hostname = fields.pop("hostname", "worker-1@example")
        self.retries = 0
        self.delivery_info = {"routing_key": "celery"}
        self.group = None
        self.parent_id = None
        self.children: list[Any] = []
        self.chord = None
        self.chain = None
        self.errbacks: list[Any] = []
        self.ignore_result = False
        self.periodic_task_name = fields.pop("periodic_task_name", None)
        self.meta = fields.pop("meta", None)
        assert not fields, fields


def make_app(backend: str, **conf: Any) -> Celery:
    """A Celery app with ``backend`` as its result backend and ``result_extended`` on."""
    app = Celery("edge-input-tests", set_as_current=False)
    app.conf.update({"result_backend": backend, "result_extended": True, **conf})
    return app


@pytest.fixture(params=["json", "pickle"])
def serializer(request: pytest.FixtureRequest) -> str:
    """Each of Celery's text and binary result serializers."""
    name: str = request.param
    return name


@pytest.fixture
def backend(db_alias: str, serializer: str) -> Iterator[DatabaseBackend]:
    """A django-db backend whose results are routed to ``db_alias``."""
    app = make_app("django-db", result_serializer=serializer, accept_content=[serializer])
    with route_results_to(db_alias):
        backend = app.backend
        assert isinstance(backend, DatabaseBackend)
        yield backend


def raised_with_traceback(exc: Exception) -> tuple[Exception, str]:
    """``exc`` raised and caught, with the traceback text Celery would store for it."""
    import traceback

    try:
        raise exc
    except Exception as caught:
        return caught, "".join(traceback.format_exception(*sys.exc_info()))


def test_failure_with_a_lone_surrogate_is_stored(backend: DatabaseBackend, db_alias: str) -> None:
    """A FAILURE whose message and traceback hold a lone surrogate is stored, escaped."""
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, None, states.STARTED, request=Request(task_id))
    exc, tb = raised_with_traceback(ValueError(BAD_NAME))
    backend.mark_as_failure(task_id, exc, traceback=tb, request=Request(task_id))

    row = TaskResult.objects.using(db_alias).get(task_id=task_id)
    assert row.status == states.FAILURE
    assert row.traceback is not None
    assert f"ValueError: /data/bad{ESCAPED}name.csv" in row.traceback
    result: AsyncResult[Any] = AsyncResult(task_id, app=backend.app)
    assert result.state == states.FAILURE
    # The exception itself comes back: JSON escapes the surrogate, pickle is base64 text.
    assert isinstance(result.result, ValueError)
    assert BAD_NAME in str(result.result)


def test_every_text_column_takes_a_lone_surrogate(backend: DatabaseBackend, db_alias: str) -> None:
    """Names, worker, args, kwargs and meta holding a surrogate are stored, none dropped."""
    task_id = str(uuid.uuid4())
    request = Request(
        task_id,
        task=f"tests.{BAD_NAME}",
        hostname=f"worker-{BAD_NAME}"[:90],
        argsrepr=f"({BAD_NAME!s},)",
        kwargsrepr=f"{{'path': {BAD_NAME!s}}}",
        periodic_task_name=f"nightly {BAD_NAME}",
        meta={"source": BAD_NAME},
    )
    backend.store_result(task_id, {"path": BAD_NAME}, states.SUCCESS, request=request)

    row = TaskResult.objects.using(db_alias).get(task_id=task_id)
    assert row.status == states.SUCCESS
    for column in ("task_name", "worker", "periodic_task_name"):
        assert ESCAPED in getattr(row, column), column
    result: AsyncResult[Any] = AsyncResult(task_id, app=backend.app)
    assert result.result == {"path": BAD_NAME}
    # Serialized columns keep the exact text: JSON escapes it, pickle is base64.
    assert result.args == request.argsrepr
    assert result.kwargs == request.kwargsrepr


def test_a_later_state_still_replaces_a_surrogate_state(
    backend: DatabaseBackend, db_alias: str
) -> None:
    """The escaped STARTED row is an ordinary row: the task's SUCCESS replaces it."""
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, None, states.STARTED, request=Request(task_id))
    backend.store_result(task_id, 7, states.SUCCESS, request=Request(task_id))
    assert AsyncResult(task_id, app=backend.app).get(timeout=1) == 7


@pytest.mark.parametrize("make_id", [lambda: 123456789, uuid.uuid4], ids=["int", "uuid"])
def test_non_str_task_ids_are_stored_as_their_text(
    backend: DatabaseBackend, db_alias: str, make_id: Any
) -> None:
    """``store_result`` with an int or UUID id stores and reads back under ``str(id)``."""
    task_id = make_id()
    TaskResult.objects.using(db_alias).filter(task_id=str(task_id)).delete()
    backend.store_result(task_id, 5, states.SUCCESS, request=Request(task_id))
    assert TaskResult.objects.using(db_alias).get(task_id=str(task_id)).status == states.SUCCESS
    assert AsyncResult(str(task_id), app=backend.app).get(timeout=1) == 5
    assert backend.get_task_meta(task_id)["status"] == states.SUCCESS
    backend.forget(task_id)
    assert not TaskResult.objects.using(db_alias).filter(task_id=str(task_id)).exists()


def test_group_with_a_uuid_id_is_saved(backend: DatabaseBackend, db_alias: str) -> None:
    """``GroupResult.save`` with a ``uuid.UUID`` id saves under ``str(id)`` and restores."""
    group_id = uuid.uuid4()
    members: list[AsyncResult[Any]] = [
        AsyncResult(str(uuid.uuid4()), app=backend.app) for _ in range(3)
    ]
    GroupResult(group_id, members, app=backend.app).save()  # type: ignore[arg-type]
    assert GroupResultModel.objects.using(db_alias).filter(group_id=str(group_id)).exists()
    restored = GroupResult.restore(str(group_id), app=backend.app)
    assert restored is not None
    assert [r.id for r in restored.results or []] == [m.id for m in members]


@pytest.mark.parametrize("task_id", [987654321, uuid.UUID(int=7)], ids=["int", "uuid"])
def test_managers_store_non_str_ids(db_alias: str, task_id: Any) -> None:
    """The managers' ``store_result`` / ``store_group_result`` take int and UUID ids."""
    row = TaskResult.objects.db_manager(db_alias).store_result(
        "application/json", "utf-8", task_id, '"ok"', states.SUCCESS, using=db_alias
    )
    assert row.task_id == str(task_id)
    group = GroupResultModel.objects.db_manager(db_alias).store_group_result(
        "application/json", "utf-8", task_id, "[]", using=db_alias
    )
    assert group.group_id == str(task_id)


def test_manager_stores_a_surrogate_traceback(db_alias: str) -> None:
    """The manager path escapes a surrogate in the traceback instead of failing."""
    task_id = str(uuid.uuid4())
    row = TaskResult.objects.db_manager(db_alias).store_result(
        "application/json",
        "utf-8",
        task_id,
        '"x"',
        states.FAILURE,
        traceback=f"Traceback ...\nValueError: {BAD_NAME}",
        using=db_alias,
    )
    assert row.status == states.FAILURE
    assert ESCAPED in (row.traceback or "")


@pytest.mark.parametrize("alias", ["locmem", "redis"])
def test_cache_backend_stores_a_surrogate_failure(alias: str) -> None:
    """django-cache stores the FAILURE of a surrogate message too (pickling keeps it exact)."""
    from tests import settings as test_settings

    if alias not in test_settings.CACHES:
        pytest.skip(test_settings.SKIPPED_CACHES.get(alias, f"no {alias} cache"))
    app = make_app("django-cache", cache_backend=alias)
    backend = app.backend
    assert isinstance(backend, CacheBackend)
    task_id = str(uuid.uuid4())
    exc, tb = raised_with_traceback(ValueError(BAD_NAME))
    backend.mark_as_failure(task_id, exc, traceback=tb, request=Request(task_id))
    result: AsyncResult[Any] = AsyncResult(task_id, app=app)
    assert result.state == states.FAILURE
    assert BAD_NAME in str(result.result)
    assert BAD_NAME in str(result.traceback)
    backend.forget(task_id)


@pytest.mark.worker
def test_worker_stores_the_failure_of_a_surrogate_message(db_alias: str) -> None:
    """A real worker's task raising ``ValueError(<surrogate>)`` ends FAILURE, not STARTED."""
    from celery.contrib.testing.worker import start_worker

    from tests.celery_app import app, fail

    with (
        route_results_to(db_alias),
        start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ),
    ):
        result = fail.delay(BAD_NAME)
        with pytest.raises(ValueError, match=r"name\.csv"):
            result.get(timeout=30)
    row = TaskResult.objects.using(db_alias).get(task_id=result.id)
    assert row.status == states.FAILURE
    assert f"bad{ESCAPED}name.csv" in (row.traceback or "")


@pytest.fixture
def narrow_mysql_columns() -> Iterator[str]:
    """MariaDB's result table with ``traceback`` in 3-byte ``utf8`` and ``task_name`` in latin1.

    Old MySQL schemas are often like this (the ``utf8`` of MySQL before 8 holds no emoji);
    the columns get their own character sets back afterwards.
    """
    from django.db import connections

    from tests import settings as test_settings

    if "mariadb" not in test_settings.DATABASES:
        pytest.skip(test_settings.SKIPPED_DATABASES.get("mariadb", "no MariaDB"))
    connection = connections["mariadb"]
    table = TaskResult._meta.db_table
    changes = {
        "traceback": "LONGTEXT CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci NULL",
        "task_name": "VARCHAR(255) CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [table],
        )
        before = {row[0]: row[1:] for row in cursor.fetchall() if row[0] in changes}
        for column, definition in changes.items():
            cursor.execute(f"ALTER TABLE {table} MODIFY {column} {definition}")
    _forget_bound_tables(connection)
    try:
        yield "mariadb"
    finally:
        with connection.cursor() as cursor:
            for column, (kind, charset, collation, nullable) in before.items():
                null = "NULL" if nullable == "YES" else "NOT NULL"
                cursor.execute(
                    f"ALTER TABLE {table} MODIFY {column} {kind} "
                    f"CHARACTER SET {charset} COLLATE {collation} {null}"
                )
        _forget_bound_tables(connection)


def _forget_bound_tables(connection: Any) -> None:
    """Drop the cached table descriptions, so the next use reads the schema again."""
    from django_celery_results.adapters.django_orm.bound import forget_mysql_charsets

    forget_mysql_charsets()
    if hasattr(connection, "_django_celery_results_bound_tables"):
        del connection._django_celery_results_bound_tables


def test_text_a_narrow_mysql_column_cannot_hold_is_escaped(narrow_mysql_columns: str) -> None:
    """An emoji in a 3-byte utf8 traceback, CJK in a latin1 name: escaped, FAILURE stored."""
    alias = narrow_mysql_columns
    app = make_app("django-db")
    task_id = str(uuid.uuid4())
    with route_results_to(alias):
        backend = app.backend
        assert isinstance(backend, DatabaseBackend)
        exc, tb = raised_with_traceback(ValueError("disk full \U0001f4a5"))
        request = Request(task_id, task="tests.导入")
        backend.mark_as_failure(task_id, exc, traceback=tb, request=request)
        row = TaskResult.objects.using(alias).get(task_id=task_id)
        assert row.status == states.FAILURE
        assert "disk full \\U0001f4a5" in (row.traceback or "")
        assert row.task_name == "tests.\\u5bfc\\u5165"
        # The exception itself is JSON (ASCII escapes): it comes back exactly.
        assert str(AsyncResult(task_id, app=app).result) == "disk full \U0001f4a5"
