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
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.http import HttpRequest
from django.test import Client, override_settings
from django.urls import resolve, reverse

from django_celery_results import views
from django_celery_results.celery_bridge.views_access import DENIALS, access_rule
from tests import oldpkg, views_access_rules
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


# -- who may read the views (DJANGO_CELERY_RESULTS_VIEWS_ACCESS) --------------------------------

ACCESS = "DJANGO_CELERY_RESULTS_VIEWS_ACCESS"
PERMISSION = "django_celery_results.view_taskresult"

#: Who asks, as the ``reader`` fixture logs them in.
READERS = ["anonymous", "inactive-staff", "user", "permitted", "staff", "superuser"]

#: Each mode with the readers it lets in (everyone else gets a 403).
MODES: dict[str, set[str]] = {
    "public": set(READERS),
    "authenticated": {"user", "permitted", "staff", "superuser"},
    "staff": {"staff", "superuser"},
    f"permission:{PERMISSION}": {"permitted", "superuser"},
}


@pytest.fixture
def one_db_app() -> Iterator[Celery]:
    """A ``django-db`` app on the default database only (access does not depend on the store)."""
    previous = get_current_app()
    app = Celery("views-access-tests", set_as_current=False)
    app.conf.update(result_backend="django-db", result_extended=True)
    app.set_current()
    try:
        with route_results_to("default"):
            yield app
    finally:
        previous.set_current()


@pytest.fixture
def one_db_stored(one_db_app: Celery) -> Stored:
    """``stored``'s rows, on the default database only."""
    return Stored(one_db_app)


def _log_in(client: Client, who: str) -> None:
    """Log ``who`` (one of READERS) in on ``client``; "anonymous" stays logged out."""
    if who == "anonymous":
        return
    if who == "superuser":
        user: User = User.objects.create_superuser(username=f"root-{uuid()}", password="unused")
    else:
        user = _user(staff="staff" in who, active=who != "inactive-staff")
    if who == "permitted":
        app_label, codename = PERMISSION.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client.force_login(user)


def _paths(stored: Stored) -> list[str]:
    """The four views, each about a stored object."""
    return [
        f"/results/task/done/{stored.success}/",
        f"/results/task/status/{stored.failure}/",
        f"/results/group/done/{stored.group}/",
        f"/results/group/status/{stored.group}/",
    ]


def _denied(client: Client, path: str, code: str) -> None:
    """GET ``path`` and check that it is a JSON 403 with ``code``, not cached, not a redirect."""
    response = client.get(path)
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/json"
    assert "Location" not in response
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content) == {"detail": str(DENIALS[code]), "code": code}
    assert SECRET_MESSAGE.encode() not in response.content


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("mode", list(MODES))
def test_each_mode_allows_and_denies(
    client: Client, one_db_stored: Stored, mode: str, who: str
) -> None:
    """Each mode lets in exactly its readers; the others get a JSON 403 on all four views.

    The code is ``not_authenticated`` for a request without a logged-in, active user (an
    inactive user's session is not one) and ``permission_denied`` for a logged-in user.
    """
    _log_in(client, who)
    with override_settings(**{ACCESS: mode}):
        for path in _paths(one_db_stored):
            if who in MODES[mode]:
                _get(client, path)
            else:
                code = (
                    "not_authenticated"
                    if who in {"anonymous", "inactive-staff"}
                    else ("permission_denied")
                )
                _denied(client, path, code)


def test_public_is_the_default(client: Client, one_db_stored: Stored) -> None:
    """Without the setting anyone reads every view, as with the old package."""
    assert not hasattr(django_settings, ACCESS)
    for path in _paths(one_db_stored):
        _get(client, path)


@pytest.mark.parametrize(
    ("mode", "who"),
    [
        pytest.param("authenticated", "user", id="authenticated-user"),
        pytest.param("staff", "staff", id="staff"),
        pytest.param(f"permission:{PERMISSION}", "permitted", id="permitted"),
    ],
)
def test_exposed_error_details_reach_only_allowed_readers(
    client: Client, one_db_stored: Stored, mode: str, who: str
) -> None:
    """EXPOSE_TRACEBACKS shows error details to those the rule allows, never to the others."""
    with override_settings(**{ACCESS: mode, "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS": True}):
        _denied(client, f"/results/task/status/{one_db_stored.failure}/", "not_authenticated")
        _denied(client, f"/results/group/status/{one_db_stored.group}/", "not_authenticated")
        _log_in(client, who)
        task = _get(client, f"/results/task/status/{one_db_stored.failure}/")["task"]
    assert task == {"id": one_db_stored.failure, "status": "FAILURE", **SHOWN}


def test_error_details_stay_staff_only_without_exposing(
    client: Client, one_db_stored: Stored
) -> None:
    """A permitted non-staff reader sees the failure, not its details, unless they are exposed."""
    _log_in(client, "permitted")
    with override_settings(**{ACCESS: f"permission:{PERMISSION}"}):
        task = _get(client, f"/results/task/status/{one_db_stored.failure}/")["task"]
    assert task == {"id": one_db_stored.failure, "status": "FAILURE", **HIDDEN}


class Recorder:
    """A per-object rule that records its calls and allows what ``allow`` says."""

    def __init__(self, deny: set[str] | None = None, answer: object = True) -> None:
        self.calls: list[tuple[Any, str, str]] = []
        self.deny = deny or set()
        self.answer = answer

    def __call__(self, request: HttpRequest, kind: str, object_id: str) -> object:
        """Record the call; deny the ids in ``deny``, else answer ``answer``."""
        self.calls.append((request, kind, object_id))
        return False if object_id in self.deny else self.answer


def test_callable_is_asked_about_the_task(client: Client, one_db_stored: Stored) -> None:
    """A callable rule gets the request (with its user), "task" and the id on the task views."""
    rule = Recorder()
    _log_in(client, "user")
    with override_settings(**{ACCESS: rule}):
        _get(client, f"/results/task/status/{one_db_stored.success}/")
        _get(client, f"/results/task/done/{one_db_stored.failure}/")
    assert [(kind, object_id) for _, kind, object_id in rule.calls] == [
        ("task", one_db_stored.success),
        ("task", one_db_stored.failure),
    ]
    request = rule.calls[0][0]
    assert isinstance(request, HttpRequest)
    assert request.path == f"/results/task/status/{one_db_stored.success}/"
    assert request.user.is_authenticated


def test_callable_is_asked_about_the_group_then_each_member(
    client: Client, one_db_stored: Stored
) -> None:
    """On a group view the rule is asked about the group, then about every member in order."""
    rule = Recorder()
    with override_settings(**{ACCESS: rule}):
        _get(client, f"/results/group/done/{one_db_stored.group}/")
    assert [(kind, object_id) for _, kind, object_id in rule.calls] == [
        ("group", one_db_stored.group),
        ("task", one_db_stored.success),
        ("task", one_db_stored.failure),
        ("task", one_db_stored.unknown),
    ]


def test_callable_denying_the_group_asks_no_member(client: Client, one_db_stored: Stored) -> None:
    """A denied group is a 403 and its members are not looked at."""
    rule = Recorder(deny={one_db_stored.group})
    with override_settings(**{ACCESS: rule}):
        _denied(client, f"/results/group/status/{one_db_stored.group}/", "not_authenticated")
    assert [kind for _, kind, _ in rule.calls] == ["group"]


def test_callable_denied_member_shows_only_its_id(client: Client, one_db_stored: Stored) -> None:
    """A member the rule denies shows its id and the denial, never its state or error details."""
    rule = Recorder(deny={one_db_stored.failure})
    _log_in(client, "staff")
    denied = {
        "id": one_db_stored.failure,
        "detail": str(DENIALS["permission_denied"]),
        "code": "permission_denied",
    }
    with override_settings(**{ACCESS: rule, "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS": True}):
        status = client.get(f"/results/group/status/{one_db_stored.group}/")
        done = _get(client, f"/results/group/done/{one_db_stored.group}/")
        _denied(client, f"/results/task/status/{one_db_stored.failure}/", "permission_denied")
    assert SECRET_MESSAGE.encode() not in status.content
    assert json.loads(status.content)["group"]["results"] == [
        {"id": one_db_stored.success, "status": "SUCCESS", "result": {"answer": 42}},
        denied,
        {"id": one_db_stored.unknown, "status": "PENDING", "result": None},
    ]
    assert done["group"]["results"] == [
        {"id": one_db_stored.success, "executed": True},
        denied,
        {"id": one_db_stored.unknown, "executed": False},
    ]


def test_callable_denied_nested_group(client: Client, one_db_app: Celery) -> None:
    """A nested group the rule denies is shown as a denial; its members are not asked about."""
    inner_id, outer_id, task_id = uuid(), uuid(), uuid()
    one_db_app.backend.store_result(task_id, 1, states.SUCCESS)
    inner = GroupResult(inner_id, [one_db_app.AsyncResult(task_id)], app=one_db_app)
    members: list[Any] = [inner]  # Celery types members as AsyncResults; groups nest too
    GroupResult(outer_id, members, app=one_db_app).save()
    rule = Recorder(deny={inner_id})
    denied = {"id": inner_id, **denial_body("not_authenticated")}
    with override_settings(**{ACCESS: rule}):
        assert _get(client, f"/results/group/status/{outer_id}/")["group"]["results"] == [denied]
        assert _get(client, f"/results/group/done/{outer_id}/")["group"]["results"] == [denied]
    assert task_id not in [object_id for _, _, object_id in rule.calls]


def denial_body(code: str) -> dict[str, str]:
    """The ``detail`` and ``code`` of a denial."""
    return {"detail": str(DENIALS[code]), "code": code}


@pytest.mark.parametrize("answer", [None, False, 1, "yes", [True]])
def test_callable_allows_only_on_true(
    client: Client, one_db_stored: Stored, answer: object
) -> None:
    """Only ``True`` allows: ``None`` (a forgotten return), truthy non-booleans deny."""
    with override_settings(**{ACCESS: Recorder(answer=answer)}):
        _denied(client, f"/results/task/status/{one_db_stored.success}/", "not_authenticated")


def test_dotted_path_names_the_callable(client: Client, one_db_stored: Stored) -> None:
    """A dotted path is imported and called like the callable itself."""
    with override_settings(**{ACCESS: "tests.views_access_rules.tasks_only"}):
        _get(client, f"/results/task/status/{one_db_stored.success}/")
        _denied(client, f"/results/group/status/{one_db_stored.group}/", "not_authenticated")


def test_bad_setting_fails_closed(client: Client, one_db_stored: Stored) -> None:
    """An invalid setting at request time raises (a 500), never falls back to public."""
    with override_settings(**{ACCESS: "private"}), pytest.raises(ValueError, match=ACCESS):
        client.get(f"/results/task/status/{one_db_stored.success}/")


@pytest.mark.parametrize(
    ("value", "per_object"),
    [
        ("public", False),
        ("authenticated", False),
        ("staff", False),
        (f"permission:{PERMISSION}", False),
        ("permission:myapp.can-read.results", False),
        ("tests.views_access_rules.tasks_only", True),
        (views_access_rules.tasks_only, True),
        (lambda request, kind, object_id: True, True),
        (lambda *args: True, True),
        (Recorder(), True),
    ],
)
def test_access_rule_parses_valid_values(value: object, per_object: bool) -> None:
    """Every documented form parses; only callables are asked per object."""
    rule = access_rule(value)
    assert rule.per_object is per_object
    assert rule.value is value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("private", "public", id="unknown-word"),
        pytest.param("", "public", id="empty"),
        pytest.param("Public", "public", id="wrong-case"),
        pytest.param("permission:", "app_label", id="permission-empty"),
        pytest.param("permission:view_taskresult", "app_label", id="permission-no-app"),
        pytest.param("permission:app.has space", "app_label", id="permission-blank"),
        pytest.param("permission:1app.x", "app_label", id="permission-bad-app"),
        pytest.param("tests.no_such_module.rule", "cannot import", id="missing-module"),
        pytest.param("tests.views_access_rules.missing", "cannot import", id="missing-name"),
        pytest.param("tests.views_access_rules.NOT_CALLABLE", "not callable", id="not-callable"),
        pytest.param("tests.views_access_rules.too_few_arguments", "signature", id="arity-path"),
        pytest.param(lambda request: True, "signature", id="arity-callable"),
        pytest.param(None, "public", id="none"),
        pytest.param(42, "public", id="int"),
        pytest.param(["staff"], "public", id="list"),
    ],
)
def test_access_rule_rejects_bad_values(value: object, reason: str) -> None:
    """A bad value raises ValueError naming the setting, the value and what is wrong."""
    with pytest.raises(ValueError, match=ACCESS) as raised:
        access_rule(value)
    message = str(raised.value)
    assert ACCESS in message
    assert repr(value) in message
    assert reason in message
