"""The chord steps outside Celery's retry loop ride out transient faults (issue 9, fault soak).

The fault soak (RELIABILITY.md) lost or doubled callbacks when a connection reset hit a step
Celery does not retry itself: the join's polls, claiming and recording the callback, a
count whose COMMIT's reply was lost. Under ``result_backend_always_retry`` each is retried
now, and a retried count finds the chord at its end and sends the callback no one else
claimed. The faults are injected as the ORM adapter raises them (``TransientStorageError``)
on real databases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import states

from django_celery_results.backends import DatabaseBackend
from django_celery_results.domain.errors import TransientStorageError
from django_celery_results.domain.results import ResultStore
from tests.integration.chords_support import (
    db_backend,
    make_app,
    part_request,
    report,
    start_chord,
    store_successes,
)
from tests.integration.conftest import SentCallbacks
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: Retries on, without sleeping between them.
RETRYING = {
    "result_backend_always_retry": True,
    "result_backend_max_retries": 5,
    "result_backend_base_sleep_between_retries_ms": 1,
    "result_backend_max_sleep_between_retries_ms": 1,
}


@pytest.fixture
def backend(db_alias: str) -> Iterator[DatabaseBackend]:
    """A backend with Celery's retries on, routed to ``db_alias``."""
    with route_results_to(db_alias):
        yield db_backend(make_app(**RETRYING))


def failing_first(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, times: int = 1, after: bool = False
) -> list[int]:
    """Make ``owner.name`` raise a transient error on its first ``times`` calls.

    ``after``: run the real call first, then raise (the server applied it; the reply was lost).
    Returns the list that counts the calls.
    """
    real: Callable[..., Any] = getattr(owner, name)
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            if after:
                real(*args, **kwargs)
            raise TransientStorageError("connection reset (injected)", alias="test")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


def test_a_count_whose_reply_was_lost_still_sends_the_callback(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last part's COMMIT applied but its reply lost: the retried count sends, once."""
    group_id, task_ids, callback = start_chord(backend, 2)
    store_successes(backend, db_alias, {t: n for n, t in enumerate(task_ids)})
    report(backend, group_id, task_ids[0], callback)
    # The first attempt counts the last part and "loses" the reply; the retry finds it
    # counted, with the chord at its end and its callback unclaimed.
    failing_first(monkeypatch, ResultStore, "chord_part_returned", after=True)
    report(backend, group_id, task_ids[1], callback)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([0, 1],))]
    # A later duplicate of the same task sends nothing: the chord is done.
    report(backend, group_id, task_ids[1], callback)
    assert len(sent_callbacks.sent) == 1


def test_a_duplicate_after_the_callback_sends_nothing(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A redelivered header task of a chord that fired claims nothing and sends nothing."""
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 7})
    report(backend, group_id, task_ids[0], callback)
    report(backend, group_id, task_ids[0], callback)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([7],))]


@pytest.mark.parametrize("after", [False, True], ids=["before-applied", "reply-lost"])
def test_a_failed_claim_is_retried(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    monkeypatch: pytest.MonkeyPatch,
    after: bool,
) -> None:
    """A claim that failed, or whose reply was lost, is retried and recognises itself."""
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 3})
    calls = failing_first(monkeypatch, ResultStore, "claim_chord_callback", after=after)
    report(backend, group_id, task_ids[0], callback)
    assert len(calls) == 2
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([3],))]


def test_the_join_poll_is_retried(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection reset in the callback's join is retried, not a ChordError."""
    group_id, task_ids, callback = start_chord(backend, 2)
    store_successes(backend, db_alias, dict.fromkeys(task_ids, 1))
    for task_id in task_ids[:-1]:
        report(backend, group_id, task_id, callback)
    calls = failing_first(monkeypatch, ResultStore, "get_tasks", times=2)
    report(backend, group_id, task_ids[-1], callback)
    assert len(calls) >= 3
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([1, 1],))]


def test_bookkeeping_after_the_send_never_fails_the_header_task(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Recording the send and clearing the parts failing for good: logged, not raised."""
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 2})
    failing_first(monkeypatch, ResultStore, "chord_callback_done", times=100)
    failing_first(monkeypatch, ResultStore, "finish_chord", times=100)
    with caplog.at_level(logging.ERROR):
        report(backend, group_id, task_ids[0], callback)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([2],))]
    assert "Recording chord" in caplog.text
    assert "Clearing chord" in caplog.text


def test_without_always_retry_the_first_error_propagates(
    db_alias: str, sent_callbacks: SentCallbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With retries off (Celery's default), a failed claim raises as before."""
    with route_results_to(db_alias):
        backend = db_backend(make_app())
        group_id, task_ids, callback = start_chord(backend, 1)
        store_successes(backend, db_alias, {task_ids[0]: 1})
        failing_first(monkeypatch, ResultStore, "claim_chord_callback")
        with pytest.raises(TransientStorageError):
            backend.on_chord_part_return(
                part_request(group_id, task_ids[0], callback), states.SUCCESS, 1
            )
    assert sent_callbacks.sent == []
