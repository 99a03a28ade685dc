"""Group and forget steps under ``result_backend_always_retry``, on every Celery version.

Celery 5.7 runs ``save_group``, ``delete_group``, ``get_group_meta`` and ``forget`` through its
retry loop; Celery 5.3-5.6 do not, and a client's ``GroupResult.save()`` failed on the first
locked SQLite database (seen in the version matrix). ``hooks.CELERY_RETRIES_GROUP_STEPS`` says
which Celery is installed, and ``SharedHooks`` retries those steps itself only where Celery
does not: one retry loop either way. These tests run on both backends, with the flag as
installed and forced to each side, so each side is exercised on whichever Celery runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery, states, uuid
from celery.backends.base import BaseBackend

from django_celery_results.celery_bridge import hooks
from django_celery_results.domain.errors import TransientStorageError

pytestmark = pytest.mark.django_db(transaction=True)

#: Whether the installed Celery has its own retry loop for these steps.
CELERY_HAS_ITS_OWN_LOOP = hasattr(BaseBackend, "_ensure_retryable")

MAX_RETRIES = 2


def make_backend(kind: str, **conf: Any) -> Any:
    """A django-db (SQLite) or django-cache (locmem) backend with the given settings."""
    app = Celery(f"group-retry-{kind}", set_as_current=False)
    app.conf.update(
        {
            "result_backend": kind,
            "result_backend_base_sleep_between_retries_ms": 1,
            "result_backend_max_sleep_between_retries_ms": 2,
            "result_backend_max_retries": MAX_RETRIES,
            **conf,
        }
    )
    return app.backend


@pytest.fixture(params=["django-db", "django-cache"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each backend."""
    return str(request.param)


class Flaky:
    """Wraps a backend's storage hook: the first ``failures`` calls raise a transient error."""

    def __init__(self, backend: Any, hook: str, failures: float) -> None:
        self.original: Callable[..., Any] = getattr(backend, hook)
        self.failures = failures
        self.calls = 0
        setattr(backend, hook, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The hook's answer, or a transient error while failures are left."""
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientStorageError(f"transient failure {self.calls}")
        return self.original(*args, **kwargs)


def saved_group(backend: Any) -> Any:
    """A group of two stored results, saved."""
    ids = [uuid(), uuid()]
    for task_id in ids:
        backend.store_result(task_id, 1, states.SUCCESS)
    group = backend.app.GroupResult(uuid(), [backend.app.AsyncResult(i) for i in ids])
    backend.save_group(group.id, group)
    return group


#: step name -> (the storage hook Celery's public method calls, a call of that method)
STEPS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "save_group": ("_save_group", lambda backend, group: backend.save_group(group.id, group)),
    "get_group_meta": (
        "_restore_group",
        lambda backend, group: backend.get_group_meta(group.id, cache=False),
    ),
    "delete_group": ("_delete_group", lambda backend, group: backend.delete_group(group.id)),
    "forget": ("_forget", lambda backend, group: backend.forget(group.results[0].id)),
}


def _after(step: str, backend: Any, group: Any, answer: Any) -> None:
    """What the step must have done once it succeeded."""
    if step == "save_group":
        assert backend.restore_group(group.id, cache=False).id == group.id
    elif step == "get_group_meta":
        assert [r.id for r in answer["result"]] == [r.id for r in group.results]
    elif step == "delete_group":
        assert backend.restore_group(group.id, cache=False) is None
    else:
        assert backend.get_task_meta(group.results[0].id, cache=False)["status"] == states.PENDING


@pytest.mark.parametrize("step", list(STEPS))
def test_a_step_that_fails_transiently_is_retried_on_every_celery(kind: str, step: str) -> None:
    """With the flag as installed, two transient failures are retried and the step succeeds."""
    backend = make_backend(kind, result_backend_always_retry=True)
    group = saved_group(backend)
    hook, call = STEPS[step]
    flaky = Flaky(backend, hook, failures=2)
    answer = call(backend, group)
    assert flaky.calls == 3
    _after(step, backend, group, answer)


@pytest.mark.parametrize("step", list(STEPS))
def test_one_retry_loop_runs_never_two_nested(kind: str, step: str) -> None:
    """A step that keeps failing is tried ``max_retries + 1`` times, then the error surfaces."""
    backend = make_backend(kind, result_backend_always_retry=True)
    group = saved_group(backend)
    hook, call = STEPS[step]
    flaky = Flaky(backend, hook, failures=float("inf"))
    with pytest.raises(TransientStorageError):
        call(backend, group)
    assert flaky.calls == MAX_RETRIES + 1


@pytest.mark.parametrize("step", list(STEPS))
def test_without_always_retry_the_first_error_surfaces(kind: str, step: str) -> None:
    """Retries are Celery's setting: off, the first transient error propagates."""
    backend = make_backend(kind)
    group = saved_group(backend)
    hook, call = STEPS[step]
    flaky = Flaky(backend, hook, failures=1)
    with pytest.raises(TransientStorageError):
        call(backend, group)
    assert flaky.calls == 1


@pytest.mark.parametrize("celery_retries", [True, False], ids=["celery-loop", "our-loop"])
def test_each_side_of_the_flag(
    kind: str, celery_retries: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flag decides who retries: forced to either side, the attempts add up as predicted.

    Ours runs when the flag is False; Celery's when it has one (5.7+). Forcing the flag against
    the installed Celery shows why it must match: no loop at all, or two nested ones.
    """
    monkeypatch.setattr(hooks, "CELERY_RETRIES_GROUP_STEPS", celery_retries)
    backend = make_backend(kind, result_backend_always_retry=True)
    group = saved_group(backend)
    flaky = Flaky(backend, "_save_group", failures=float("inf"))
    with pytest.raises(TransientStorageError):
        backend.save_group(group.id, group)
    ours = 1 if celery_retries else MAX_RETRIES + 1
    celerys = MAX_RETRIES + 1 if CELERY_HAS_ITS_OWN_LOOP else 1
    assert flaky.calls == ours * celerys


def test_the_flag_matches_the_installed_celery() -> None:
    """Celery 5.7 brought the loop for these steps; earlier minors have none."""
    import celery

    major, minor = (int(part) for part in celery.__version__.split(".")[:2])
    assert hooks.CELERY_RETRIES_GROUP_STEPS is ((major, minor) >= (5, 7))
    assert hooks.CELERY_RETRIES_GROUP_STEPS is CELERY_HAS_ITS_OWN_LOOP
