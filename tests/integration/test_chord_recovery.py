"""Chord recovery on django-db (issue 9): callbacks that a dead worker never sent get sent.

A worker killed after counting a chord's last header task and before sending the callback, or
a COMMIT whose reply was lost under ``result_backend_always_retry``, left the chord unfired
forever. The worker now claims the callback before sending it and records when it was sent;
recovery sends what nobody sent. These tests drive the steps in-process, on each database;
``test_chord_recovery_worker.py`` kills a real prefork worker inside the window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from celery import states
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.backends import DatabaseBackend
from django_celery_results.celery_bridge import chords
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

NOW = timedelta(0)


@pytest.fixture
def backend(db_alias: str) -> Iterator[DatabaseBackend]:
    """A fresh backend whose results are routed to ``db_alias``."""
    with route_results_to(db_alias):
        yield db_backend(make_app())


def count_without_sending(backend: DatabaseBackend, group_id: str, task_ids: list[str]) -> None:
    """Count every header task as the worker does, then stop: the worker died right there."""
    for task_id in task_ids:
        part = backend.result_store.chord_part_returned(group_id, task_id)
        assert part.counted


def test_a_chord_that_fired_is_never_recovered(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """With no crash, the callback is sent once and recovery (any grace) sends nothing."""
    group_id, task_ids, callback = start_chord(backend, 3)
    store_successes(backend, db_alias, {t: n for n, t in enumerate(task_ids)})
    for task_id in task_ids:
        report(backend, group_id, task_id, callback)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([0, 1, 2],))]
    row = ChordCounterModel.objects.using(db_alias).get(group_id=group_id)
    assert row.date_claimed is not None
    assert row.date_done is not None
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1


def test_recovery_sends_a_counted_chord_once(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A chord counted to zero whose callback nobody sent is sent once, with its own task id."""
    group_id, task_ids, callback = start_chord(backend, 3)
    store_successes(backend, db_alias, {t: n * 10 for n, t in enumerate(task_ids)})
    count_without_sending(backend, group_id, task_ids)
    assert sent_callbacks.sent == []

    recovered = backend.recover_chords(grace=NOW)
    assert recovered.sent == [group_id]
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([0, 10, 20],))]
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1
    row = ChordCounterModel.objects.using(db_alias).get(group_id=group_id)
    assert row.date_done is not None


def test_recovery_waits_for_the_grace_period(
    backend: DatabaseBackend, sent_callbacks: SentCallbacks
) -> None:
    """A chord that finished less than ``grace`` ago is left to its worker."""
    group_id, task_ids, _ = start_chord(backend, 2)
    count_without_sending(backend, group_id, task_ids)
    assert backend.recover_chords(grace=timedelta(minutes=5)).sent == []
    assert backend.recover_chords().sent == []  # the default grace: five minutes
    assert sent_callbacks.sent == []


def test_a_stale_claim_is_taken_over(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A worker that claimed the callback and died: after the grace, recovery sends it."""
    group_id, task_ids, callback = start_chord(backend, 2)
    store_successes(backend, db_alias, dict.fromkeys(task_ids, 1))
    count_without_sending(backend, group_id, task_ids)
    assert backend.result_store.claim_chord_callback(group_id, timedelta(minutes=5))
    assert backend.recover_chords(grace=timedelta(minutes=5)).sent == []
    assert backend.recover_chords(grace=NOW).sent == [group_id]
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([1, 1],))]


def test_the_worker_stands_back_when_recovery_claimed_first(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Recovery and the last part's worker race: exactly one of them sends the callback."""
    group_id, task_ids, callback = start_chord(backend, 2)
    store_successes(backend, db_alias, dict.fromkeys(task_ids, 2))
    report(backend, group_id, task_ids[0], callback)
    # The last part is counted (the worker stalls before claiming), and recovery runs.
    last = backend.result_store.chord_part_returned(group_id, task_ids[1])
    assert last.is_last
    assert backend.recover_chords(grace=NOW).sent == [group_id]
    # The worker carries on: its claim fails, so it sends nothing.
    backend._part_counted(part_request(group_id, task_ids[1], callback), group_id, last)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([2, 2],))]


def test_a_failed_header_task_ends_as_chord_error_on_recovery(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Recovery of a chord whose header task failed stores a ChordError on the callback."""
    group_id, task_ids, callback = start_chord(backend, 2)
    backend.store_result(task_ids[0], 1, states.SUCCESS)
    backend.store_result(task_ids[1], ValueError("boom"), states.FAILURE)
    count_without_sending(backend, group_id, task_ids)
    assert backend.recover_chords(grace=NOW).sent == [group_id]
    assert sent_callbacks.sent == []
    stored = backend.get_task_meta(str(callback.id), cache=False)
    assert stored["status"] == states.FAILURE
    assert "boom" in str(stored["result"])


def test_counters_without_a_callback_are_skipped(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A counter written by the old package (no callback stored) cannot be recovered: skipped."""
    group_id, task_ids, _ = start_chord(backend, 1)
    ChordCounterModel.objects.using(db_alias).filter(group_id=group_id).update(callback=None)
    count_without_sending(backend, group_id, task_ids)
    assert backend.recover_chords(grace=NOW).sent == []
    assert sent_callbacks.sent == []


def test_an_unreadable_callback_is_reported_once(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored callback the app may not decode (pickle under JSON-only) is logged, not run."""
    pickled = db_backend(make_app(result_serializer="pickle", accept_content=["pickle"]))
    group_id, task_ids, _ = start_chord(pickled, 1)
    count_without_sending(backend, group_id, task_ids)
    with caplog.at_level(logging.ERROR, logger="django_celery_results"):
        recovered = backend.recover_chords(grace=NOW)
    assert recovered.unreadable == [group_id]
    assert recovered.sent == []
    assert "cannot be read" in caplog.text
    assert backend.recover_chords(grace=NOW).unreadable == []
    assert sent_callbacks.sent == []


def test_cleanup_recovers_chords(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Celery's daily ``backend_cleanup`` (``backend.cleanup()``) runs chord recovery."""
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 5})
    count_without_sending(backend, group_id, task_ids)
    with override_settings(DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=0):
        backend.cleanup()
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([5],))]


@pytest.mark.parametrize("value", ["5", -1, True, [3]])
def test_grace_setting_is_validated(backend: DatabaseBackend, value: object) -> None:
    """A grace that is not a non-negative number of seconds or timedelta names the setting."""
    with (
        override_settings(DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=value),
        pytest.raises(ImproperlyConfigured, match="DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE"),
    ):
        _ = backend.chord_recovery_grace


def test_grace_setting_takes_seconds_or_a_timedelta(backend: DatabaseBackend) -> None:
    """Seconds and a timedelta both set the grace; unset means five minutes."""
    assert backend.chord_recovery_grace == timedelta(minutes=5)
    with override_settings(DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=90):
        assert backend.chord_recovery_grace == timedelta(seconds=90)
    with override_settings(DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=timedelta(hours=1)):
        assert backend.chord_recovery_grace == timedelta(hours=1)


def test_the_test_hook_runs_between_claim_and_send(
    backend: DatabaseBackend,
    db_alias: str,
    sent_callbacks: SentCallbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook sees the chord claimed and not yet sent (the window a crash leaves open)."""
    seen: list[tuple[bool, int]] = []

    def hook(group_id: str) -> None:
        row = ChordCounterModel.objects.using(db_alias).get(group_id=group_id)
        seen.append(
            (row.date_claimed is not None and row.date_done is None, len(sent_callbacks.sent))
        )

    monkeypatch.setattr(chords, "before_sending_callback", hook)
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 1})
    report(backend, group_id, task_ids[0], callback)
    assert seen == [(True, 0)]
    assert len(sent_callbacks.sent) == 1


@pytest.fixture
def current(backend: DatabaseBackend) -> Iterator[DatabaseBackend]:
    """``backend``'s app as Celery's current app (what the command and the task use)."""
    from celery import _state

    previous = _state.get_current_app()
    backend.app.set_current()
    try:
        yield backend
    finally:
        previous.set_current()


def test_recover_chords_command(
    current: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """``manage.py recover_chords --grace 0`` sends the stuck chord and says so."""
    backend = current
    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 3})
    count_without_sending(backend, group_id, task_ids)
    dry = StringIO()
    call_command("recover_chords", "--grace", "0", "--dry-run", stdout=dry)
    assert group_id in dry.getvalue()
    assert sent_callbacks.sent == []
    out = StringIO()
    call_command("recover_chords", "--grace", "0", stdout=out)
    assert "1 callbacks sent" in out.getvalue()
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([3],))]


def test_recover_chords_command_refuses_a_negative_grace() -> None:
    """A negative ``--grace`` is a clear command error."""
    with pytest.raises(CommandError, match="--grace"):
        call_command("recover_chords", "--grace", "-1")


def test_recover_chords_task(
    current: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """The ``django_celery_results.recover_chords`` task, run eagerly, recovers the chord."""
    backend = current
    from django_celery_results.tasks import recover_chords

    group_id, task_ids, callback = start_chord(backend, 1)
    store_successes(backend, db_alias, {task_ids[0]: 4})
    count_without_sending(backend, group_id, task_ids)
    assert recover_chords.run(grace=0) == 1
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([4],))]
