"""DatabaseBackend's Celery hooks against the ORM on each database: behaviour and query counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery, states, uuid
from celery.result import GroupResult
from django.db import connections
from django.test.utils import CaptureQueriesContext, override_settings

from django_celery_results.backends import DatabaseBackend
from django_celery_results.celery_bridge import composition
from django_celery_results.models import GroupResult as GroupResultModel
from django_celery_results.models import TaskResult
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


class Request:
    """A stand-in for a worker's task request, with the fields the backend reads."""

    def __init__(self, **fields: Any) -> None:
        self.id = fields.pop("id", uuid())
        self.task = fields.pop("task", "tests.add")
        self.args = fields.pop("args", [1, 2])
        self.kwargs = fields.pop("kwargs", {"z": 3})
        self.argsrepr = fields.pop("argsrepr", None)
        self.kwargsrepr = fields.pop("kwargsrepr", None)
        self.hostname = fields.pop("hostname", "worker-1@example")
        self.retries = fields.pop("retries", 0)
        self.delivery_info = {"routing_key": "celery"}
        self.group = fields.pop("group", None)
        self.parent_id = fields.pop("parent_id", None)
        self.children: list[Any] = []
        self.chord = fields.pop("chord", None)
        self.chain = None
        self.errbacks: list[Any] = []
        self.ignore_result = False
        self.periodic_task_name = fields.pop("periodic_task_name", None)
        assert not fields, fields


def db_backend(app: Celery) -> DatabaseBackend:
    """The app's backend, which these tests configure to be ours."""
    backend = app.backend
    assert isinstance(backend, DatabaseBackend)
    return backend


def make_app(**conf: Any) -> Celery:
    """A Celery app with the django-db backend and the given settings."""
    app = Celery("bridge-tests", set_as_current=False)
    app.conf.update({"result_backend": "django-db", "result_extended": True, **conf})
    return app


@pytest.fixture
def backend(db_alias: str) -> Iterator[DatabaseBackend]:
    """A backend whose results are routed to ``db_alias``."""
    with route_results_to(db_alias):
        yield db_backend(make_app())


def count_queries(alias: str) -> CaptureQueriesContext:
    """Capture the statements sent on ``alias``."""
    return CaptureQueriesContext(connections[alias])


def test_store_is_one_statement(backend: DatabaseBackend, db_alias: str) -> None:
    """Storing a new state and updating it take one SQL statement each."""
    task_id = uuid()
    with count_queries(db_alias) as new:
        backend.store_result(task_id, None, states.STARTED, request=Request(id=task_id))
    with count_queries(db_alias) as update:
        backend.store_result(task_id, 42, states.SUCCESS, request=Request(id=task_id))
    assert len(new.captured_queries) == 1
    assert len(update.captured_queries) == 1
    row = TaskResult.objects.using(db_alias).get(task_id=task_id)
    assert row.status == states.SUCCESS
    assert row.date_started is not None
    assert row.date_done is not None
    assert row.date_done >= row.date_started


def test_get_is_one_query_and_has_extended_fields(backend: DatabaseBackend, db_alias: str) -> None:
    """Reading a result is one query and returns the result_extended fields Celery exposes."""
    task_id = uuid()
    request = Request(
        id=task_id, argsrepr="(1, 2)", kwargsrepr="{'z': 3}", periodic_task_name="nightly"
    )
    backend.store_result(task_id, {"answer": 42}, states.SUCCESS, request=request)
    with count_queries(db_alias) as read:
        meta = backend.get_task_meta(task_id, cache=False)
    assert len(read.captured_queries) == 1
    assert meta["status"] == states.SUCCESS
    assert meta["result"] == {"answer": 42}
    assert meta["name"] == "tests.add"
    assert meta["args"] == "(1, 2)"
    assert meta["kwargs"] == "{'z': 3}"
    assert meta["worker"] == "worker-1@example"
    assert meta["periodic_task_name"] == "nightly"
    assert meta["queue"] == "celery"
    assert meta["date_done"] is not None


def test_success_is_never_overwritten(backend: DatabaseBackend, db_alias: str) -> None:
    """A redelivered STARTED or a late WorkerLost FAILURE does not replace a stored SUCCESS."""
    task_id = uuid()
    backend.store_result(task_id, 7, states.SUCCESS, request=Request(id=task_id))
    backend.store_result(task_id, None, states.STARTED, request=Request(id=task_id))
    backend.mark_as_failure(task_id, RuntimeError("worker lost"), request=Request(id=task_id))
    meta = backend.get_task_meta(task_id, cache=False)
    assert meta["status"] == states.SUCCESS
    assert meta["result"] == 7


def test_failure_is_replaced_by_a_later_success(backend: DatabaseBackend) -> None:
    """A task that failed on a lost worker and then succeeded on redelivery ends SUCCESS."""
    task_id = uuid()
    backend.mark_as_failure(task_id, RuntimeError("worker lost"), request=Request(id=task_id))
    backend.mark_as_done(task_id, 1, request=Request(id=task_id))
    assert backend.get_task_meta(task_id, cache=False)["status"] == states.SUCCESS


def test_traceback_is_stored_without_result_extended(db_alias: str) -> None:
    """The traceback of a failure is stored even with result_extended off."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_extended=False))
        task_id = uuid()
        backend.store_result(
            task_id, ValueError("x"), states.FAILURE, traceback="Traceback...\nValueError: x"
        )
        row = TaskResult.objects.using(db_alias).get(task_id=task_id)
        assert row.traceback == "Traceback...\nValueError: x"
        assert row.task_name is None
        with pytest.raises(ValueError, match="x"):
            raise backend.get_task_meta(task_id, cache=False)["result"]


def test_unknown_task_is_pending(backend: DatabaseBackend) -> None:
    """An id with no row reads as PENDING and does not exist."""
    task_id = uuid()
    assert backend.get_task_meta(task_id, cache=False)["status"] == states.PENDING
    assert backend.task_result_exists(task_id) is False


def test_forget_removes_the_row(backend: DatabaseBackend, db_alias: str) -> None:
    """forget() deletes the stored result; forgetting an unknown id is fine."""
    task_id = uuid()
    backend.store_result(task_id, 1, states.SUCCESS)
    assert backend.task_result_exists(task_id) is True
    backend.forget(task_id)
    backend.forget(uuid())
    assert not TaskResult.objects.using(db_alias).filter(task_id=task_id).exists()


def test_group_save_restore_delete(backend: DatabaseBackend, db_alias: str) -> None:
    """Groups round-trip through save/restore in one statement each; unknown ids are None."""
    app = backend.app
    group_id = uuid()
    group = GroupResult(group_id, [app.AsyncResult(uuid()) for _ in range(3)], app=app)
    with count_queries(db_alias) as save:
        backend.save_group(group_id, group)
    with count_queries(db_alias) as restore:
        restored = backend.restore_group(group_id, cache=False)
    assert len(save.captured_queries) == 1
    assert len(restore.captured_queries) == 1
    assert restored is not None
    assert [r.id for r in restored.results or []] == [r.id for r in group.results or []]
    assert backend.restore_group(uuid(), cache=False) is None
    backend.delete_group(group_id)
    backend.delete_group(uuid())
    assert not GroupResultModel.objects.using(db_alias).filter(group_id=group.id).exists()


def test_cleanup_deletes_only_expired(db_alias: str) -> None:
    """cleanup() removes task and group results older than result_expires, keeps the rest."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_expires=timedelta(hours=1)))
        old, new = uuid(), uuid()
        backend.store_result(old, 1, states.SUCCESS)
        backend.store_result(new, 2, states.SUCCESS)
        group_id = uuid()
        group = GroupResult(group_id, [backend.app.AsyncResult(old)], app=backend.app)
        backend.save_group(group_id, group)
        past = backend.app.now() - timedelta(hours=2)
        TaskResult.objects.using(db_alias).filter(task_id=old).update(date_done=past)
        GroupResultModel.objects.using(db_alias).filter(group_id=group.id).update(date_done=past)
        backend.cleanup()
        ids = set(TaskResult.objects.using(db_alias).values_list("task_id", flat=True))
        assert old not in ids
        assert new in ids
        assert not GroupResultModel.objects.using(db_alias).filter(group_id=group.id).exists()


def test_oversize_task_name_is_refused_and_keeps_the_stored_row(
    backend: DatabaseBackend, db_alias: str
) -> None:
    """A task name longer than its column fails clearly and leaves the stored result intact."""
    task_id = uuid()
    backend.store_result(task_id, 1, states.SUCCESS, request=Request(id=task_id))
    with pytest.raises(ValueError, match=r"task_name: 300 characters .* limit of 255"):
        backend.store_result(
            task_id, 2, states.FAILURE, request=Request(id=task_id, task="t" * 300)
        )
    row = TaskResult.objects.using(db_alias).get(task_id=task_id)
    assert (row.status, row.task_name) == (states.SUCCESS, "tests.add")


def test_empty_task_id_is_refused(backend: DatabaseBackend) -> None:
    """An empty task id is an error naming the field, not a row with an empty key."""
    with pytest.raises(ValueError, match="task_id: must not be empty"):
        backend.store_result("", 1, states.SUCCESS)


def test_using_keyword_pins_an_alias(db_alias: str) -> None:
    """The old backend's ``using=`` keyword still writes to the named alias."""
    backend = db_backend(make_app())
    task_id = uuid()
    backend._store_result(
        task_id, backend.encode_result(3, states.SUCCESS), states.SUCCESS, using=db_alias
    )
    assert TaskResult.objects.using(db_alias).filter(task_id=task_id, status="SUCCESS").exists()


def test_memory_repositories_need_no_database() -> None:
    """The "memory" repositories setting stores and reads without touching a database."""
    with override_settings(DJANGO_CELERY_RESULTS_REPOSITORIES="memory"):
        backend = db_backend(make_app())
        task_id = uuid()
        with CaptureQueriesContext(connections["default"]) as queries:
            backend.store_result(task_id, "kept in memory", states.SUCCESS)
            assert backend.get_task_meta(task_id, cache=False)["result"] == "kept in memory"
        assert queries.captured_queries == []
        assert composition.memory_repositories().tasks.get(task_id) is not None
    assert not TaskResult.objects.filter(task_id=task_id).exists()


def test_bad_repositories_setting_is_a_clear_error() -> None:
    """An unknown DJANGO_CELERY_RESULTS_REPOSITORIES value names the setting and the choices."""
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(DJANGO_CELERY_RESULTS_REPOSITORIES="nosuch.module.factory"),
        pytest.raises(ImproperlyConfigured, match="DJANGO_CELERY_RESULTS_REPOSITORIES"),
    ):
        _ = db_backend(make_app()).result_store


def own_repositories() -> composition.Repositories:
    """A repositories factory named by dotted path in the setting's test."""
    return composition.memory_repositories()


def not_repositories() -> object:
    """A factory that returns something other than ``Repositories``."""
    return object()


def test_repositories_from_a_dotted_path() -> None:
    """A dotted path names a factory whose repositories the backend uses."""
    with override_settings(DJANGO_CELERY_RESULTS_REPOSITORIES=f"{__name__}.own_repositories"):
        backend = db_backend(make_app())
        task_id = uuid()
        backend.store_result(task_id, 7, states.SUCCESS)
    assert composition.memory_repositories().tasks.get(task_id) is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be 'orm', 'memory' or a dotted path, got None"),
        ("", "must be 'orm', 'memory' or a dotted path, got ''"),
        ("nosuch.module.factory", "= 'nosuch.module.factory' is neither 'orm', 'memory' nor"),
        (f"{__name__}.not_repositories", "returned object, expected Repositories"),
    ],
)
def test_bad_repositories_values_name_setting_and_value(value: object, message: str) -> None:
    """Each kind of bad DJANGO_CELERY_RESULTS_REPOSITORIES value gets its own clear message."""
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(DJANGO_CELERY_RESULTS_REPOSITORIES=value),
        pytest.raises(ImproperlyConfigured, match="DJANGO_CELERY_RESULTS_REPOSITORIES") as error,
    ):
        _ = db_backend(make_app()).result_store
    assert message in str(error.value)


def test_using_keyword_reuses_one_store_per_alias(db_alias: str) -> None:
    """The composition root builds the store pinned to an alias once, not per call."""
    backend = db_backend(make_app())
    assert backend._store_for(db_alias) is backend._store_for(db_alias)
    assert backend._store_for(None) is backend.result_store


def _kill_connection(alias: str) -> None:
    """Terminate the server side of ``alias``'s current connection from another connection."""
    from tests import settings as test_settings

    wrapper = connections[alias]
    wrapper.ensure_connection()
    raw = wrapper.connection
    if wrapper.vendor == "postgresql":
        from tests.pg_admin import execute

        execute(
            "SELECT pg_terminate_backend(%s)",
            [raw.info.backend_pid],
            host=test_settings.PG_HOST,
            port=test_settings.PG_PORT,
            user=test_settings.PG_USER,
        )
    elif wrapper.vendor == "mysql":
        import MySQLdb

        thread_id = raw.thread_id()
        admin = MySQLdb.connect(
            host=test_settings.MY_HOST,
            port=test_settings.MY_PORT,
            user=test_settings.MY_USER,
            password=test_settings.MY_PASSWORD,
        )
        try:
            admin.cursor().execute(f"KILL {int(thread_id)}")
        finally:
            admin.close()
    else:
        pytest.skip(f"{wrapper.vendor} has no server connection to kill")


def test_transient_failure_is_retried_after_resetting_the_alias_used(db_alias: str) -> None:
    """With always_retry, a killed connection is reset on its alias and the store succeeds."""
    if connections[db_alias].vendor == "sqlite":
        pytest.skip("SQLite has no server connection that can be lost")
    with route_results_to(db_alias):
        backend = db_backend(
            make_app(
                result_backend_always_retry=True,
                result_backend_base_sleep_between_retries_ms=1,
                result_backend_max_retries=3,
            )
        )
        backend.store_result(uuid(), 1, states.SUCCESS)
        connections["default"].ensure_connection()
        default_before = connections["default"].connection
        _kill_connection(db_alias)
        task_id = uuid()
        backend.store_result(task_id, 2, states.SUCCESS)
        assert backend.get_task_meta(task_id, cache=False)["result"] == 2
        assert connections["default"].connection is default_before


def test_transient_failure_without_always_retry_is_raised(db_alias: str) -> None:
    """Without always_retry a lost connection surfaces as a transient storage error."""
    from django_celery_results.domain.errors import TransientStorageError

    if connections[db_alias].vendor == "sqlite":
        pytest.skip("SQLite has no server connection that can be lost")
    with route_results_to(db_alias):
        backend = db_backend(make_app())
        backend.store_result(uuid(), 1, states.SUCCESS)
        _kill_connection(db_alias)
        with pytest.raises(TransientStorageError) as caught:
            backend.store_result(uuid(), 2, states.SUCCESS)
        assert caught.value.alias == db_alias
        assert backend.exception_safe_to_retry(caught.value)


def test_managers_write_through_the_store_the_app_handed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """apps.ready() gives the managers the root's ORM store factory; without it they say so."""
    from django.core.exceptions import ImproperlyConfigured

    from django_celery_results.adapters.django_orm import managers

    assert managers._result_stores == [composition.orm_result_store]
    monkeypatch.setattr(managers, "_result_stores", [])
    with pytest.raises(ImproperlyConfigured, match="INSTALLED_APPS"):
        TaskResult.objects.store_result("application/json", "utf-8", uuid(), "1", states.SUCCESS)
