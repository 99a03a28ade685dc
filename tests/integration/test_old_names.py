"""The old package's helper names behave as they did (issue 9, defect 7).

``test_module_paths.py`` checks that every name exists; these check what the ones with
behaviour do: the version tuple, the state choices, ``transaction_retry``, ``trigger_callback``
and the admin's ``ALLOW_EDITS``.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery, states, uuid
from celery.result import GroupResult
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission, User
from django.db import DatabaseError, OperationalError
from django.test import Client, override_settings

import django_celery_results
from django_celery_results.adapters.django_orm.models import TaskResult
from django_celery_results.backends.database import EXCEPTIONS_TO_CATCH, trigger_callback
from django_celery_results.managers import W_ISOLATION_REP, TxIsolationWarning, transaction_retry
from django_celery_results.models import ALL_STATES, TASK_STATE_CHOICES
from tests.integration.conftest import SentCallbacks

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_version_tuple_matches_the_version_string() -> None:
    """``VERSION``/``version_info`` hold ``__version__``'s numbers and compare as tuples."""
    version = django_celery_results.VERSION
    assert version is django_celery_results.version_info
    assert isinstance(version, django_celery_results.version_info_t)
    major, minor, micro = (int(part) for part in django_celery_results.__version__.split(".")[:3])
    assert version[:3] == (major, minor, micro)
    assert version >= (0, 1)


def test_state_choices_are_celerys_states() -> None:
    """``ALL_STATES`` is Celery's state names sorted; the choices pair each with itself."""
    assert sorted(states.ALL_STATES) == ALL_STATES
    assert [(s, s) for s in ALL_STATES] == TASK_STATE_CHOICES
    assert "SUCCESS" in ALL_STATES


def test_isolation_warning_text() -> None:
    """``W_ISOLATION_REP`` is the text of the warning about REPEATABLE READ."""
    assert "REPEATABLE READ" in W_ISOLATION_REP
    assert TxIsolationWarning.message == W_ISOLATION_REP


def test_exceptions_to_catch_are_interface_errors() -> None:
    """``EXCEPTIONS_TO_CATCH`` is a tuple of exception classes (Django's InterfaceError)."""
    assert all(issubclass(exc, Exception) for exc in EXCEPTIONS_TO_CATCH)


def test_transaction_retry_retries_database_errors() -> None:
    """A DatabaseError is retried ``max_retries`` times; then the last error is raised."""
    calls: list[int] = []

    @transaction_retry(max_retries=2)
    def flaky(fail_times: int) -> str:
        calls.append(1)
        if len(calls) <= fail_times:
            raise OperationalError("gone away")
        return "stored"

    assert flaky(2) == "stored"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(OperationalError):
        flaky(5)
    assert len(calls) == 3
    calls.clear()
    assert flaky(1, exception_retry_count=1) == "stored"
    calls.clear()
    with pytest.raises(OperationalError):
        flaky(1, exception_retry_count=0)
    assert len(calls) == 1


def test_transaction_retry_leaves_other_errors_alone() -> None:
    """Errors that are not database errors are raised at once, not retried."""
    calls: list[int] = []

    @transaction_retry()
    def broken() -> None:
        calls.append(1)
        raise ValueError("not a database error")

    with pytest.raises(ValueError, match="not a database"):
        broken()
    assert calls == [1]
    assert issubclass(OperationalError, DatabaseError)


def test_trigger_callback_sends_the_joined_results(
    sent_callbacks: SentCallbacks,
) -> None:
    """``trigger_callback`` joins the group and sends the callback its results."""
    app = Celery("old-names", set_as_current=False)
    app.conf.update(result_backend="django-db", broker_url="memory://")
    ids = [uuid(), uuid()]
    for n, task_id in enumerate(ids):
        app.backend.store_result(task_id, n + 1, states.SUCCESS)
    group = GroupResult(uuid(), [app.AsyncResult(t) for t in ids], app=app)
    callback = app.signature("tests.tsum")
    callback.freeze()
    trigger_callback(app, callback, group)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([1, 2],))]


def _staff_with(*codenames: str) -> Client:
    user = User.objects.create_user(f"staff-{uuid()}", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _change_page(client: Client, row: Any) -> Any:
    return client.get(f"/admin/django_celery_results/taskresult/{row.pk}/change/")


def test_admin_is_read_only_without_allow_edits() -> None:
    """Without ALLOW_EDITS even the change permission shows every field read-only."""
    row = TaskResult.objects.create(task_id=uuid(), status=states.SUCCESS, result="1")
    client = _staff_with("view_taskresult", "change_taskresult")
    page = _change_page(client, row)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()


@override_settings(DJANGO_CELERY_RESULTS={"ALLOW_EDITS": True})
def test_allow_edits_lets_the_change_permission_edit() -> None:
    """With ALLOW_EDITS, a user with the change permission edits the status; ids stay fixed."""
    row = TaskResult.objects.create(task_id=uuid(), status=states.FAILURE, result="1")
    client = _staff_with("view_taskresult", "change_taskresult")
    page = _change_page(client, row)
    html = page.content.decode()
    assert 'name="status"' in html
    assert 'name="task_id"' not in html
    model_admin = site._registry[TaskResult]
    assert "task_id" in model_admin.get_readonly_fields(page.wsgi_request, row)
    # Without the change permission the page stays read-only.
    viewer = _staff_with("view_taskresult")
    assert 'name="status"' not in _change_page(viewer, row).content.decode()
