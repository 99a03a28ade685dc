"""The admin pages render on every database: lists, searches, filters, detail pages, deletion.

A superuser logged in through Django's test client opens the pages of ``tests/urls.py``'s
admin (``/admin/``) with a few results stored through the ``django-db`` backend and the old
managers, the results app routed to each database of ``tests.settings`` in turn (the users and
sessions stay on ``default``). Only correctness is checked here: which rows a page lists, what
a person reads on it, the status code. Query counts are left free (issue 13 rewrites the
admin).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, states, uuid
from celery.result import GroupResult as CeleryGroupResult
from django.contrib.auth.models import User
from django.test import Client

from django_celery_results.adapters.django_orm.models import GroupResult, TaskResult
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__")

TASKS = "/admin/django_celery_results/taskresult/"
GROUPS = "/admin/django_celery_results/groupresult/"


class Stored:
    """What the ``stored`` fixture put in the database: three task results and one group."""

    def __init__(self, app: Celery) -> None:
        self.added = uuid()
        self.failed = uuid()
        self.nightly = uuid()
        self.group = uuid()
        # Through the backend: a plain SUCCESS (no task name, worker or schedule entry).
        app.backend.store_result(self.added, 42, states.SUCCESS)
        # Through the old managers: the columns the list filters offer.
        TaskResult.objects.store_result(
            "application/json",
            "utf-8",
            self.failed,
            '{"exc_type": "ValueError", "exc_message": ["boom"]}',
            states.FAILURE,
            traceback="Traceback (most recent call last):\nValueError: boom\n",
            task_name="proj.tasks.divide",
            worker="celery@alpha",
        )
        TaskResult.objects.store_result(
            "application/json",
            "utf-8",
            self.nightly,
            '"done"',
            states.SUCCESS,
            task_name="proj.tasks.report",
            worker="celery@beta",
            periodic_task_name="nightly-report",
        )
        members = [app.AsyncResult(task_id) for task_id in (self.added, self.failed)]
        CeleryGroupResult(self.group, members, app=app).save()

    @property
    def task_ids(self) -> set[str]:
        """Every stored task id."""
        return {self.added, self.failed, self.nightly}


@pytest.fixture
def app(db_alias: str) -> Iterator[Celery]:
    """A ``django-db`` Celery app with the results app routed to ``db_alias``."""
    app = Celery("admin-pages-tests", set_as_current=False)
    app.conf.update(result_backend="django-db")
    with route_results_to(db_alias):
        yield app


@pytest.fixture
def stored(app: Celery) -> Stored:
    """Three task results (SUCCESS, FAILURE, a scheduled SUCCESS) and a group of two."""
    return Stored(app)


@pytest.fixture
def client() -> Client:
    """A test client logged in as a superuser (stored on ``default``)."""
    user = User.objects.create_superuser(f"admin-{uuid()}", password="x")
    client = Client()
    client.force_login(user)
    return client


def _page(client: Client, path: str, **query: str) -> Any:
    """GET ``path`` with ``query``, checking that the page rendered (200)."""
    response = client.get(path, query)
    assert response.status_code == 200, (path, query, response.status_code)
    return response


def _listed_tasks(response: Any) -> set[str]:
    """The task ids of a task list page's rows, each checked to be on the page."""
    ids = {row.task_id for row in response.context["cl"].result_list}
    html = response.content.decode()
    assert all(task_id in html for task_id in ids)
    return ids


def _count_shown(response: Any, count: int, name: str, plural: str) -> bool:
    """Whether the paginator line says ``count`` results (``3 task results``)."""
    label = name if count == 1 else plural
    return re.search(rf"\b{count}\s+{label}\b", response.content.decode()) is not None


def test_task_list_shows_every_result(client: Client, stored: Stored) -> None:
    """The task list shows each stored task's id, name and state, and the number of rows."""
    page = _page(client, TASKS)
    assert _listed_tasks(page) == stored.task_ids
    html = page.content.decode()
    for text in ("proj.tasks.divide", "proj.tasks.report", "nightly-report", "celery@alpha"):
        assert text in html
    assert states.FAILURE in html
    assert _count_shown(page, 3, "task result", "task results")


def test_task_search_finds_a_task_by_id(client: Client, stored: Stored) -> None:
    """Searching for a task id lists that task alone; a task name finds its task too."""
    page = _page(client, TASKS, q=stored.failed)
    assert _listed_tasks(page) == {stored.failed}
    assert _count_shown(page, 1, "task result", "task results")
    assert _listed_tasks(_page(client, TASKS, q="proj.tasks.report")) == {stored.nightly}
    assert _listed_tasks(_page(client, TASKS, q=uuid())) == set()


def _filter(lookup: str, value: str, *expected: str) -> Any:
    """A list filter's query (``?lookup=value``) and the ``Stored`` names it must list."""
    return pytest.param({lookup: value}, set(expected), id=f"{lookup}={value}")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        _filter("status__exact", states.SUCCESS, "added", "nightly"),
        _filter("status__exact", states.FAILURE, "failed"),
        _filter("worker__exact", "celery@alpha", "failed"),
        _filter("worker__isnull", "True", "added"),
        _filter("task_name__exact", "proj.tasks.report", "nightly"),
        _filter("periodic_task_name__exact", "nightly-report", "nightly"),
        _filter("periodic_task_name__isnull", "True", "added", "failed"),
    ],
)
def test_task_list_filters(
    client: Client, stored: Stored, query: dict[str, str], expected: set[str]
) -> None:
    """Each list filter (state, worker, task, schedule entry) lists the matching rows only."""
    page = _page(client, TASKS, **query)
    assert _listed_tasks(page) == {getattr(stored, name) for name in expected}


def test_task_filter_sidebar_offers_the_stored_values(client: Client, stored: Stored) -> None:
    """The filter sidebar offers each stored state, worker, task name and schedule entry."""
    page = _page(client, TASKS)
    changelist = page.context["cl"]
    offered = {
        str(spec.title): {str(choice["display"]) for choice in spec.choices(changelist)}
        for spec in changelist.filter_specs
    }
    assert set(offered) == {"state", "worker", "task name", "periodic task name"}
    assert {states.SUCCESS, states.FAILURE} <= offered["state"]
    assert {"celery@alpha", "celery@beta"} <= offered["worker"]
    assert {"proj.tasks.divide", "proj.tasks.report"} <= offered["task name"]
    assert "nightly-report" in offered["periodic task name"]
    html = page.content.decode()
    assert all(value in html for value in ("celery@beta", "proj.tasks.divide", "nightly-report"))


def test_task_date_hierarchy(client: Client, stored: Stored) -> None:
    """The date drill-down by ``date_done`` lists today's results, and no other year's."""
    done = TaskResult.objects.get(task_id=stored.failed).date_done
    today = {
        "date_done__year": str(done.year),
        "date_done__month": str(done.month),
        "date_done__day": str(done.day),
    }
    assert _listed_tasks(_page(client, TASKS, **today)) == stored.task_ids
    assert _listed_tasks(_page(client, TASKS, date_done__year=str(done.year - 1))) == set()


def test_task_detail_page(client: Client, stored: Stored) -> None:
    """A task's page shows its id, name, state, worker and traceback, read-only."""
    row = TaskResult.objects.get(task_id=stored.failed)
    page = _page(client, f"{TASKS}{row.pk}/change/")
    html = page.content.decode()
    for text in (stored.failed, "proj.tasks.divide", states.FAILURE, "celery@alpha", "boom"):
        assert text in html
    assert 'name="status"' not in html


def test_nobody_adds_results_by_hand(client: Client, stored: Stored) -> None:
    """There is no add page, even for a superuser (results are written by workers)."""
    assert client.get(f"{TASKS}add/").status_code == 403
    assert client.get(f"{GROUPS}add/").status_code == 403


def test_group_list_search_and_detail(client: Client, stored: Stored) -> None:
    """The group list shows the group; a search finds it by id; its page shows its id."""
    other = GroupResult.objects.store_group_result("application/json", "utf-8", uuid(), "[]")
    page = _page(client, GROUPS)
    listed = {row.group_id for row in page.context["cl"].result_list}
    assert listed == {stored.group, other.group_id}
    assert stored.group in page.content.decode()
    assert _count_shown(page, 2, "group result", "group results")
    found = _page(client, GROUPS, q=stored.group)
    assert [row.group_id for row in found.context["cl"].result_list] == [stored.group]
    assert _count_shown(found, 1, "group result", "group results")
    row = GroupResult.objects.get(group_id=stored.group)
    detail = _page(client, f"{GROUPS}{row.pk}/change/").content.decode()
    assert stored.group in detail
    assert stored.added in detail  # the members, in the stored result


def test_chord_counters_have_no_page(client: Client, stored: Stored) -> None:
    """Chord counters are internal bookkeeping: the app's index lists the two result pages only."""
    index = _page(client, "/admin/django_celery_results/")
    models = {entry["object_name"] for entry in index.context["app_list"][0]["models"]}
    assert models == {"TaskResult", "GroupResult"}
    assert client.get("/admin/django_celery_results/chordcounter/").status_code == 404


def test_delete_action_removes_the_selected_task(client: Client, stored: Stored) -> None:
    """The admin's delete action, confirmed, deletes the selected row and leaves the others."""
    row = TaskResult.objects.get(task_id=stored.failed)
    selected = {"action": "delete_selected", "_selected_action": [str(row.pk)]}
    confirm = client.post(TASKS, selected)
    assert confirm.status_code == 200
    assert stored.failed in confirm.content.decode()
    done = client.post(TASKS, {**selected, "post": "yes"})
    assert done.status_code == 302
    assert not TaskResult.objects.filter(task_id=stored.failed).exists()
    assert set(TaskResult.objects.values_list("task_id", flat=True)) == {
        stored.added,
        stored.nightly,
    }


def test_delete_action_removes_a_group(client: Client, stored: Stored) -> None:
    """The delete action works on the group list too."""
    row = GroupResult.objects.get(group_id=stored.group)
    selected = {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"}
    assert client.post(GROUPS, selected).status_code == 302
    assert not GroupResult.objects.filter(group_id=stored.group).exists()
