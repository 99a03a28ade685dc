"""Chord recovery on django-cache (issue 9), on each cache that counts chords itself.

A cache cannot list its keys, so each chord is listed under the minute it started; a claim
that expires after the grace period makes exactly one process send a callback. Each test's app
has a global key prefix of its own, so it sees only its own chords in the index.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery

from django_celery_results.backends import CacheBackend
from django_celery_results.celery_bridge.recovering import recovering_backend
from tests.integration.cache_backend_support import ATOMIC, backend_of, make_app
from tests.integration.conftest import SentCallbacks
from tests.integration.test_cache_chords import Chord
from tests.integration.test_cache_store import cache_alias_params

NOW = timedelta(0)


def isolated_app(alias: str, **conf: Any) -> Celery:
    """An app on cache ``alias`` whose keys (and recovery index) no other test shares."""
    prefix = f"recovery-{uuid.uuid4().hex[:12]}:"
    return make_app(
        cache_backend=alias,
        result_backend_transport_options={"global_keyprefix": prefix},
        **conf,
    )


def count_without_sending(chord: Chord) -> None:
    """Store and count every header task, then stop: the worker died before sending."""
    backend = chord.backend
    for n, task_id in enumerate(chord.task_ids):
        backend.store_result(task_id, n, "SUCCESS")
        assert backend.results.count_part(chord.group_id, task_id, None).counted


@pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))
class TestCacheChordRecovery:
    """Recovery on locmem, Redis and Memcached."""

    def test_a_chord_that_fired_is_never_recovered(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """With no crash the callback is sent once and recovery finds nothing to send."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 3)
        for n, task_id in enumerate(chord.task_ids):
            chord.succeed(task_id, n)
        assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
        assert backend.recover_chords(grace=NOW).sent == []
        assert len(sent_callbacks.sent) == 1

    def test_recovery_sends_a_counted_chord_once(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """A chord counted to its end whose callback nobody sent is sent once, by its own id."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 3)
        count_without_sending(chord)
        assert backend.chords_awaiting_recovery(NOW) == [chord.group_id]
        assert backend.recover_chords(grace=NOW).sent == [chord.group_id]
        assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
        assert backend.recover_chords(grace=NOW).sent == []
        assert len(sent_callbacks.sent) == 1

    def test_recovery_waits_for_the_grace_period(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """A chord started less than ``grace`` ago is left to its worker."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 1)
        count_without_sending(chord)
        assert backend.recover_chords(grace=timedelta(minutes=5)).sent == []
        assert sent_callbacks.sent == []

    def test_unfinished_chords_are_not_recovered(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """A chord with header tasks still to report is not touched."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 2)
        chord.succeed(chord.task_ids[0], 1)
        assert backend.recover_chords(grace=NOW).sent == []
        assert sent_callbacks.sent == []

    def test_a_stale_claim_is_taken_over(self, alias: str, sent_callbacks: SentCallbacks) -> None:
        """A claimer that died: its claim expires after the grace, then recovery sends."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 1)
        count_without_sending(chord)
        assert backend.results.claim_callback(chord.group_id, 1)
        assert backend.recover_chords(grace=NOW).sent == []
        time.sleep(2.1)  # Memcached expires at whole seconds
        assert backend.recover_chords(grace=NOW).sent == [chord.group_id]
        assert len(sent_callbacks.sent) == 1

    def test_the_worker_stands_back_when_recovery_claimed_first(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """Recovery claims first: the worker that counted the last part sends nothing."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 1)
        count_without_sending(chord)
        assert backend.recover_chords(grace=NOW).sent == [chord.group_id]
        assert not backend.results.claim_callback(chord.group_id, 300)
        assert len(sent_callbacks.sent) == 1

    def test_failed_header_task_ends_as_chord_error(
        self, alias: str, sent_callbacks: SentCallbacks
    ) -> None:
        """Recovering a chord whose header task failed stores a ChordError on the callback."""
        backend = backend_of(isolated_app(alias))
        chord = Chord(backend, 1)
        task_id = chord.task_ids[0]
        backend.store_result(task_id, KeyError("gone"), "FAILURE")
        assert backend.results.count_part(chord.group_id, task_id, None).counted
        assert backend.recover_chords(grace=NOW).sent == [chord.group_id]
        assert sent_callbacks.sent == []
        assert chord.outcome()["status"] == "FAILURE"

    def test_the_command_and_task_find_this_backend(self, alias: str) -> None:
        """``recovering_backend`` gives the app's own cache backend."""
        app = isolated_app(alias)
        backend: object = app.backend
        assert recovering_backend(app) is backend


def test_chord_unlock_caches_have_nothing_to_recover() -> None:
    """A cache without an atomic increment leaves chords to chord_unlock: nothing to recover."""
    backend = backend_of(isolated_app("filebased"))
    assert isinstance(backend, CacheBackend)
    assert not backend.implements_incr
    assert backend.recover_chords(grace=NOW).sent == []
