"""The JSON result views through Django's test client, with results stored by ``django-db``.

The views read through the current Celery app (``celery.current_app``), so each test makes a
``django-db`` app current and routes the results app to each database of ``tests.settings`` in
turn; the urls are included under ``results/`` (``tests/urls.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, states, uuid
from celery._state import get_current_app
from celery.backends.base import KeyValueStoreBackend
from celery.result import GroupResult
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import resolve, reverse

from django_celery_results import views
from tests import oldpkg
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__")

SECRET_MESSAGE = "cannot open /srv/app/secrets.env"
TRACEBACK = (
    f'Traceback (most recent call last):\n  File "tasks.py", line 1\nValueError: {SECRET_MESSAGE}\n'
)
HIDDEN = {"result": None, "exc": None, "traceback": None}
SHOWN = {
    "result": f"ValueError({SECRET_MESSAGE!r})",
    "exc": "builtins.ValueError",
    "traceback": TRACEBACK,
}


class Stored:
    """Ids of what the ``stored`` fixture put in the database."""

    def __init__(self, app: Celery) -> None:
        self.success = uuid()
        self.failure = uuid()
        self.unknown = uuid()
        self.group = uuid()
        app.backend.store_result(self.success, {"answer": 42}, states.SUCCESS)
        app.backend.mark_as_failure(self.failure, ValueError(SECRET_MESSAGE), traceback=TRACEBACK)
        members = [app.AsyncResult(i) for i in (self.success, self.failure, self.unknown)]
        GroupResult(self.group, members, app=app).save()


@pytest.fixture
def app(db_alias: str) -> Iterator[Celery]:
    """A ``django-db`` Celery app, current while the test runs, with results on ``db_alias``."""
    previous = get_current_app()
    app = Celery("views-tests", set_as_current=False)
    app.conf.update(result_backend="django-db", result_extended=True)
    app.set_current()
    try:
        with route_results_to(db_alias):
            yield app
    finally:
        previous.set_current()


@pytest.fixture
def stored(app: Celery) -> Stored:
    """A SUCCESS, a FAILURE with a traceback and a saved group of them plus an unknown id."""
    return Stored(app)


def _get(client: Client, path: str) -> dict[str, Any]:
    """GET ``path`` and return its JSON body, checking that it is a JSON 200."""
    response = client.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(response.content)
    return body


def _user(*, staff: bool, active: bool = True) -> User:
    user: User = User.objects.create_user(
        username=f"user-{uuid()}", password="unused", is_staff=staff, is_active=active
    )
    return user


def test_success(client: Client, stored: Stored) -> None:
    """A SUCCESS is executed and its status view carries the result."""
    assert _get(client, f"/results/task/done/{stored.success}/") == {
        "task": {"id": stored.success, "executed": True}
    }
    assert _get(client, f"/results/task/status/{stored.success}/") == {
        "task": {"id": stored.success, "status": "SUCCESS", "result": {"answer": 42}}
    }


def test_failure_is_not_executed(client: Client, stored: Stored) -> None:
    """A FAILURE is not executed; anonymous users see its status but no error details."""
    assert _get(client, f"/results/task/done/{stored.failure}/") == {
        "task": {"id": stored.failure, "executed": False}
    }
    assert _get(client, f"/results/task/status/{stored.failure}/") == {
        "task": {"id": stored.failure, "status": "FAILURE", **HIDDEN}
    }


def test_unknown_task_is_pending(client: Client, app: Celery) -> None:
    """An id with nothing stored is PENDING, not executed, with a null result."""
    task_id = uuid()
    assert _get(client, f"/results/task/done/{task_id}/") == {
        "task": {"id": task_id, "executed": False}
    }
    assert _get(client, f"/results/task/status/{task_id}/") == {
        "task": {"id": task_id, "status": "PENDING", "result": None}
    }


@pytest.mark.parametrize(
    ("staff", "active"),
    [pytest.param(False, True, id="non-staff"), pytest.param(True, False, id="inactive-staff")],
)
def test_failure_details_hidden_from_non_staff(
    client: Client, stored: Stored, staff: bool, active: bool
) -> None:
    """A logged-in user who is not active staff gets null result, exc and traceback."""
    client.force_login(_user(staff=staff, active=active))
    assert _get(client, f"/results/task/status/{stored.failure}/")["task"] == {
        "id": stored.failure,
        "status": "FAILURE",
        **HIDDEN,
    }


def test_failure_details_shown_to_active_staff(client: Client, stored: Stored) -> None:
    """Active staff see a failure's repr, exception class and traceback."""
    client.force_login(_user(staff=True))
    assert _get(client, f"/results/task/status/{stored.failure}/")["task"] == {
        "id": stored.failure,
        "status": "FAILURE",
        **SHOWN,
    }


@override_settings(DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS=True)
def test_failure_details_shown_to_everyone_when_exposed(client: Client, stored: Stored) -> None:
    """DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS = True shows the details to anonymous users."""
    assert _get(client, f"/results/task/status/{stored.failure}/")["task"] == {
        "id": stored.failure,
        "status": "FAILURE",
        **SHOWN,
    }


def test_saved_group_is_successful_per_member(client: Client, stored: Stored) -> None:
    """A saved group lists each member, in order, with whether it succeeded."""
    assert _get(client, f"/results/group/done/{stored.group}/") == {
        "group": {
            "id": stored.group,
            "results": [
                {"id": stored.success, "executed": True},
                {"id": stored.failure, "executed": False},
                {"id": stored.unknown, "executed": False},
            ],
        }
    }


def test_saved_group_status_hides_failure_details(client: Client, stored: Stored) -> None:
    """group_status gives each member's state; a failed member's details are null publicly."""
    assert _get(client, f"/results/group/status/{stored.group}/") == {
        "group": {
            "id": stored.group,
            "results": [
                {"id": stored.success, "status": "SUCCESS", "result": {"answer": 42}},
                {"id": stored.failure, "status": "FAILURE", **HIDDEN},
                {"id": stored.unknown, "status": "PENDING", "result": None},
            ],
        }
    }


def test_saved_group_status_shows_failure_details_to_staff(client: Client, stored: Stored) -> None:
    """Active staff see a failed group member's error details in group_status."""
    client.force_login(_user(staff=True))
    results = _get(client, f"/results/group/status/{stored.group}/")["group"]["results"]
    assert results[1] == {"id": stored.failure, "status": "FAILURE", **SHOWN}


def test_unknown_group_has_no_results(client: Client, app: Celery) -> None:
    """A group that was never saved answers 200 with an empty results list on both views."""
    group_id = uuid()
    empty = {"group": {"id": group_id, "results": []}}
    assert _get(client, f"/results/group/done/{group_id}/") == empty
    assert _get(client, f"/results/group/status/{group_id}/") == empty


def test_responses_are_never_cached(client: Client, stored: Stored) -> None:
    """A state changes over time, so no response may be cached by browsers or proxies."""
    for path in (
        f"/results/task/done/{stored.success}/",
        f"/results/task/status/{stored.success}/",
        f"/results/group/done/{stored.group}/",
        f"/results/group/status/{stored.group}/",
    ):
        cache_control = client.get(path)["Cache-Control"]
        assert "no-cache" in cache_control, path
        assert "no-store" in cache_control, path


_PATHS = [
    ("celery-is_task_successful", "task/done/{id}/", "{id}/done/", views.is_task_successful),
    ("celery-task_status", "task/status/{id}/", "{id}/status/", views.task_status),
    (
        "celery-is_group_successful",
        "group/done/{id}/",
        "{id}/group/done/",
        views.is_group_successful,
    ),
    ("celery-group_status", "group/status/{id}/", "{id}/group/status/", views.group_status),
]


@pytest.mark.parametrize(("name", "noun_first", "id_first", "view"), _PATHS)
def test_both_url_styles_resolve_to_the_same_view(
    client: Client, stored: Stored, name: str, noun_first: str, id_first: str, view: Any
) -> None:
    """Noun-first and id-first paths (with dotted custom ids too) reach the same view."""
    object_id = stored.group if "group" in name else stored.success
    for some_id in (object_id, "custom.id-1_x"):
        new = "/results/" + noun_first.format(id=some_id)
        old = "/results/" + id_first.format(id=some_id)
        assert resolve(new).func is view
        assert resolve(old).func is view
        assert resolve(new).url_name == resolve(old).url_name == name
        assert _get(client, new) == _get(client, old)


@pytest.mark.parametrize(("name", "noun_first", "id_first", "view"), _PATHS)
def test_reverse_builds_the_id_first_path(
    name: str, noun_first: str, id_first: str, view: Any
) -> None:
    """reverse() of each of the four names builds the id-first path, as the old package did."""
    assert reverse(name, args=["abc-123"]) == "/results/" + id_first.format(id="abc-123")
    assert reverse(name, kwargs={"group_id" if "group" in name else "task_id": "x.y"}) == (
        "/results/" + id_first.format(id="x.y")
    )


_REVERSE = """
import json
from django.urls import reverse

names = ["celery-is_task_successful", "celery-task_status", "celery-is_group_successful",
         "celery-group_status"]
print(json.dumps([reverse(name, args=["abc-123"]) for name in names]))
"""

_URLCONF = """
from django.urls import include, path

urlpatterns = [path("results/", include("django_celery_results.urls"))]
"""


@pytest.mark.parametrize(
    "id_first_urls",
    [
        pytest.param(None, id="setting-unset"),
        pytest.param(True, id="id-first-on"),
        pytest.param(False, id="id-first-off"),
    ],
)
def test_reverse_matches_the_old_package(id_first_urls: bool | None) -> None:
    """reverse() of the four names builds the paths the old package built, per its setting."""
    settings: dict[str, Any] = {"ROOT_URLCONF": "dcr_urls"}
    if id_first_urls is not None:
        settings["DJANGO_CELERY_RESULTS_ID_FIRST_URLS"] = id_first_urls
    modules = {"dcr_urls": _URLCONF}
    old = oldpkg.run_old(_REVERSE, settings=settings, modules=modules)
    ours = oldpkg.run_current(_REVERSE, settings=settings, modules=modules)
    assert json.loads(ours) == json.loads(old)


# -- rows this app cannot decode ---------------------------------------------------------------


class StoredAsPickle:
    """Ids of rows a pickle-writing app stored, read back by the JSON-only ``app``.

    ``task_group`` is saved by the reading app (a JSON row) and holds the pickle tasks;
    ``pickle_group`` is itself a pickle row.
    """

    def __init__(self, app: Celery) -> None:
        writer = Celery("views-pickle-writer", set_as_current=False)
        writer.conf.update(
            result_backend="django-db",
            result_serializer="pickle",
            accept_content=["json", "pickle"],
        )
        self.success = uuid()
        self.failure = uuid()
        self.task_group = uuid()
        self.pickle_group = uuid()
        writer.backend.store_result(self.success, {"answer": 42}, states.SUCCESS)
        writer.backend.mark_as_failure(
            self.failure, ValueError(SECRET_MESSAGE), traceback=TRACEBACK
        )
        members = [app.AsyncResult(i) for i in (self.success, self.failure)]
        GroupResult(self.task_group, members, app=app).save()
        GroupResult(self.pickle_group, [writer.AsyncResult(self.success)], app=writer).save()


@pytest.fixture
def pickled(app: Celery) -> StoredAsPickle:
    """Pickle rows (a SUCCESS, a FAILURE, a group) under an app that accepts JSON only."""
    # Celery's default, said explicitly: the reading app accepts JSON only.
    app.conf.update(accept_content=["json"], result_accept_content=None)
    return StoredAsPickle(app)


#: What anyone is told about a row that cannot be decoded: the fact, not the reason.
UNDECODABLE_TASK = "the stored result of this task cannot be decoded"
UNDECODABLE_GROUP = "the stored group cannot be decoded"
#: What active staff (or everyone, when tracebacks are exposed) also learn: the reason.
DISALLOWED = (
    ": kombu.exceptions.ContentDisallowed: Refusing to deserialize untrusted content of type "
    "pickle (application/x-python-serialize)"
)


def _undecodable_task(task_id: str, status: str | None, error: str) -> dict[str, Any]:
    return {"id": task_id, "status": status, "result": None, "error": error}


def test_undecodable_task_status_is_json_with_state_and_error(
    client: Client, pickled: StoredAsPickle
) -> None:
    """A pickle row under a JSON-only app: 200 with the stored state and why it is unreadable."""
    assert _get(client, f"/results/task/status/{pickled.success}/") == {
        "task": _undecodable_task(pickled.success, "SUCCESS", UNDECODABLE_TASK)
    }
    assert _get(client, f"/results/task/status/{pickled.failure}/") == {
        "task": {**_undecodable_task(pickled.failure, "FAILURE", UNDECODABLE_TASK), **HIDDEN}
    }


def test_undecodable_task_done_is_json_with_state_and_error(
    client: Client, pickled: StoredAsPickle
) -> None:
    """is_task_successful answers from the stored state, with the decoding error."""
    assert _get(client, f"/results/task/done/{pickled.success}/") == {
        "task": {
            "id": pickled.success,
            "executed": True,
            "status": "SUCCESS",
            "error": UNDECODABLE_TASK,
        }
    }
    assert _get(client, f"/results/task/done/{pickled.failure}/") == {
        "task": {
            "id": pickled.failure,
            "executed": False,
            "status": "FAILURE",
            "error": UNDECODABLE_TASK,
        }
    }


def test_undecodable_group_members_are_json_with_state_and_error(
    client: Client, pickled: StoredAsPickle
) -> None:
    """A readable group of unreadable tasks lists each member's state and error on both views."""
    assert _get(client, f"/results/group/done/{pickled.task_group}/") == {
        "group": {
            "id": pickled.task_group,
            "results": [
                {
                    "id": pickled.success,
                    "executed": True,
                    "status": "SUCCESS",
                    "error": UNDECODABLE_TASK,
                },
                {
                    "id": pickled.failure,
                    "executed": False,
                    "status": "FAILURE",
                    "error": UNDECODABLE_TASK,
                },
            ],
        }
    }
    assert _get(client, f"/results/group/status/{pickled.task_group}/") == {
        "group": {
            "id": pickled.task_group,
            "results": [
                _undecodable_task(pickled.success, "SUCCESS", UNDECODABLE_TASK),
                {**_undecodable_task(pickled.failure, "FAILURE", UNDECODABLE_TASK), **HIDDEN},
            ],
        }
    }


def test_undecodable_group_is_json_with_error(client: Client, pickled: StoredAsPickle) -> None:
    """A group row that cannot be decoded: 200, no members known, and the error."""
    expected = {"group": {"id": pickled.pickle_group, "results": [], "error": UNDECODABLE_GROUP}}
    assert _get(client, f"/results/group/done/{pickled.pickle_group}/") == expected
    assert _get(client, f"/results/group/status/{pickled.pickle_group}/") == expected


@pytest.mark.parametrize("who", ["staff", "exposed"])
def test_undecodable_rows_explain_why_to_those_who_may_see_errors(
    client: Client, pickled: StoredAsPickle, who: str
) -> None:
    """Active staff, or everyone under EXPOSE_TRACEBACKS, also get the decoding error's reason."""
    if who == "staff":
        client.force_login(_user(staff=True))
    with override_settings(DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS=who == "exposed"):
        task = _get(client, f"/results/task/status/{pickled.success}/")["task"]
        done = _get(client, f"/results/task/done/{pickled.failure}/")["task"]
        members = _get(client, f"/results/group/status/{pickled.task_group}/")["group"]
        group = _get(client, f"/results/group/done/{pickled.pickle_group}/")["group"]
    assert task == _undecodable_task(pickled.success, "SUCCESS", UNDECODABLE_TASK + DISALLOWED)
    assert done["error"] == UNDECODABLE_TASK + DISALLOWED
    failed = members["results"][1]
    assert failed["status"] == "FAILURE"
    assert failed["error"] == UNDECODABLE_TASK + DISALLOWED
    # The decoded exception is unknown, so there is nothing to show even to staff.
    assert (failed["result"], failed["exc"], failed["traceback"]) == (None, None, None)
    assert group["error"] == UNDECODABLE_GROUP + DISALLOWED


@pytest.fixture
def memory_cache_app() -> Iterator[Celery]:
    """A JSON-only app on Celery's in-memory cache backend (state kept inside the payload)."""
    previous = get_current_app()
    app = Celery("views-memory-cache", set_as_current=False)
    app.conf.update(result_backend="cache+memory://", accept_content=["json"])
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()


def test_undecodable_payload_without_a_state_column_has_a_null_state(
    client: Client, memory_cache_app: Celery
) -> None:
    """Where the state lives inside the payload, an undecodable entry has state null, still 200."""
    task_id = uuid()
    writer = Celery("views-memory-writer", set_as_current=False)
    writer.conf.update(
        result_backend="cache+memory://",
        result_serializer="pickle",
        accept_content=["json", "pickle"],
    )
    payload = writer.backend.encode({"task_id": task_id, "status": states.SUCCESS, "result": 1})
    backend = memory_cache_app.backend
    assert isinstance(backend, KeyValueStoreBackend)
    backend.set(backend.get_key_for_task(task_id), payload)
    assert _get(client, f"/results/task/status/{task_id}/") == {
        "task": _undecodable_task(task_id, None, UNDECODABLE_TASK)
    }
    assert _get(client, f"/results/task/done/{task_id}/") == {
        "task": {"id": task_id, "executed": False, "status": None, "error": UNDECODABLE_TASK}
    }
