"""Chords counted in the cache that cannot complete (issue 9, defect 4), on each atomic cache.

A counter that is gone (deleted, expired), a header group that is gone or unreadable, a failed
header task, a join timeout, a callback that cannot be sent: each ends with the callback's
result stored as FAILURE holding a ChordError, through Celery's own ``chord_error_from_stack``
(nothing of Celery's is replaced), never with an exception out of the worker's hook and a
callback left PENDING.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from celery import states
from celery.canvas import Signature
from celery.exceptions import ChordError
from celery.result import AsyncResult

from django_celery_results.backends import CacheBackend
from tests.integration.cache_backend_support import ATOMIC, Request, backend_of, make_app
from tests.integration.test_cache_store import cache_alias_params

pytestmark = pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))


class Chord:
    """A chord started on ``backend`` whose header tasks the test stores and reports by hand."""

    def __init__(self, backend: CacheBackend, size: int) -> None:
        app = backend.app
        self.backend = backend
        self.group_id = str(uuid.uuid4())
        self.task_ids = [str(uuid.uuid4()) for _ in range(size)]
        self.callback: Signature[Any] = app.signature("tests.tsum")
        self.callback.freeze()
        members: list[AsyncResult[Any]] = [AsyncResult(t, app=app) for t in self.task_ids]
        backend.apply_chord((self.group_id, members), self.callback)

    def request(self, task_id: str) -> Request:
        """The request a worker holds for header task ``task_id``."""
        return Request(id=task_id, group=self.group_id, chord=dict(self.callback))

    def succeed(self, task_id: str, value: Any) -> None:
        """Header task ``task_id`` returns ``value`` (stored and counted, as a worker does)."""
        self.backend.mark_as_done(task_id, value, request=self.request(task_id))

    def count_only(self, task_id: str) -> None:
        """Header task ``task_id`` is counted but its result never stored (a lost write)."""
        self.backend.on_chord_part_return(self.request(task_id), states.SUCCESS, None)

    def outcome(self) -> dict[str, Any]:
        """The callback's stored meta."""
        return self.backend.get_task_meta(str(self.callback.id), cache=False)


def assert_chord_error(outcome: dict[str, Any], *fragments: str) -> None:
    """The callback failed with a ChordError whose message holds every fragment."""
    assert outcome["status"] == states.FAILURE, outcome
    assert isinstance(outcome["result"], ChordError), outcome["result"]
    for fragment in fragments:
        assert fragment in str(outcome["result"])


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Callbacks sent (recorded instead of published; none of these chords may send one)."""
    calls: list[Any] = []
    monkeypatch.setattr(Signature, "delay", lambda self, *args, **kwargs: calls.append(args))
    return calls


def test_deleted_counter_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """A chord whose counter was deleted stores a ChordError on its first reported part."""
    backend = backend_of(make_app(cache_backend=alias))
    chord = Chord(backend, 2)
    backend.delete(backend.get_key_for_chord(chord.group_id))
    chord.succeed(chord.task_ids[0], 1)
    assert_chord_error(chord.outcome(), chord.group_id, "no counter")
    assert sent == []


def test_expired_counter_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """A chord whose counter expired (result_expires = 1) fails its callback, not the worker."""
    backend = backend_of(make_app(cache_backend=alias, result_expires=1))
    chord = Chord(backend, 2)
    # Memcached expires at whole seconds: two of them are past any rounding.
    time.sleep(2.1)
    assert backend.results.remaining(chord.group_id) is None
    chord.succeed(chord.task_ids[0], 1)
    assert_chord_error(chord.outcome(), chord.group_id, "no counter")
    assert sent == []


def test_deleted_header_group_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """The last part of a chord whose saved header group was deleted stores a ChordError."""
    backend = backend_of(make_app(cache_backend=alias))
    chord = Chord(backend, 2)
    backend.delete_group(chord.group_id)
    chord.succeed(chord.task_ids[0], 1)
    assert chord.outcome()["status"] == states.PENDING
    chord.succeed(chord.task_ids[1], 2)
    assert_chord_error(chord.outcome(), f"GroupResult {chord.group_id} no longer exists")
    assert sent == []


def test_unreadable_header_group_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """A saved header replaced by something that is not a group stores a ChordError."""
    backend = backend_of(make_app(cache_backend=alias))
    chord = Chord(backend, 1)
    backend.set(backend.get_key_for_group(chord.group_id), "not a group")
    chord.succeed(chord.task_ids[0], 1)
    assert_chord_error(chord.outcome(), chord.group_id, "header could not be read")
    assert sent == []


def test_failed_header_task_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """A header task that raised gives the callback a ChordError naming it and its error."""
    backend = backend_of(make_app(cache_backend=alias))
    chord = Chord(backend, 2)
    chord.succeed(chord.task_ids[0], 1)
    failed = chord.task_ids[1]
    backend.mark_as_failure(failed, KeyError("missing"), request=chord.request(failed))
    assert_chord_error(chord.outcome(), f"Dependency {failed} raised KeyError('missing')")
    assert sent == []


def test_join_timeout_fails_the_callback(alias: str, sent: list[Any]) -> None:
    """A counted header task whose result never arrives fails after result_chord_join_timeout."""
    backend = backend_of(make_app(cache_backend=alias, result_chord_join_timeout=0.3))
    chord = Chord(backend, 2)
    chord.succeed(chord.task_ids[0], 1)
    chord.count_only(chord.task_ids[1])
    assert_chord_error(chord.outcome(), "timed out", "0.3")
    assert sent == []


def test_callback_that_cannot_be_sent_fails(alias: str) -> None:
    """A callback whose arguments the task serializer refuses stores a ChordError.

    The header results are sets (the cache keeps Python objects); JSON cannot carry them, so
    sending the callback fails for real, before any broker is reached.
    """
    backend = backend_of(
        make_app(cache_backend=alias, broker_url="memory://", task_serializer="json")
    )
    chord = Chord(backend, 2)
    chord.succeed(chord.task_ids[0], {1})
    chord.succeed(chord.task_ids[1], {2})
    assert_chord_error(chord.outcome(), "Callback error", "EncodeError")
