"""Counting a chord's parts through dropped cache connections (RELIABILITY.md, a chord lost).

Celery calls ``on_chord_part_return`` outside its retry loop, so a connection reset while a
part was counted lost the part and left the callback PENDING for good. With
``result_backend_always_retry`` on, the mark is retried (its token tells a lost reply from a
duplicate) and a decrement whose reply was lost is never sent again: the marks decide, at once
or through recovery. The faults come from a store wrapper over each real cache.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import states

from django_celery_results.adapters.django_cache import DjangoCacheStore
from django_celery_results.backends import CacheBackend
from django_celery_results.domain.errors import TransientStorageError
from django_celery_results.domain.keyvalue import SHORT_COUNTS_CHECKED
from tests.faulty_store import Fault, FaultyStore
from tests.integration.cache_backend_support import ATOMIC
from tests.integration.conftest import SentCallbacks
from tests.integration.test_cache_chord_recovery import NOW, isolated_app
from tests.integration.test_cache_chords import Chord
from tests.integration.test_cache_store import cache_alias_params

pytestmark = pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))

RETRYING = {
    "result_backend_always_retry": True,
    "result_backend_max_retries": 10,
    "result_backend_base_sleep_between_retries_ms": 1,
    "result_backend_max_sleep_between_retries_ms": 5,
}


def faulty_backend(alias: str, **conf: Any) -> tuple[CacheBackend, FaultyStore]:
    """A backend on cache ``alias`` (keys of its own) whose store fails the calls scheduled."""
    app = isolated_app(alias, **conf)
    store = FaultyStore(DjangoCacheStore(alias))
    return CacheBackend(app=app, store=store), store


def report(chord: Chord, task_id: str, value: Any, *faults: tuple[str, Fault]) -> None:
    """Store header task ``task_id``'s result, then count it with ``faults`` scheduled."""
    chord.backend.store_result(task_id, value, states.SUCCESS)
    store = chord.backend.store
    assert isinstance(store, FaultyStore)
    for operation, fault in faults:
        store.fail(operation, fault)
    chord.count_only(task_id)


def run_chord(chord: Chord, faulty_part: int, *faults: tuple[str, Fault]) -> None:
    """Report every header task ``n`` with value ``n``; part ``faulty_part`` meets ``faults``."""
    for n, task_id in enumerate(chord.task_ids):
        report(chord, task_id, n, *(faults if n == faulty_part else ()))


@pytest.mark.parametrize("fault", ["before", "after"])
def test_a_failed_mark_is_retried_and_counted_once(
    alias: str, fault: Fault, sent_callbacks: SentCallbacks
) -> None:
    """The mark's add fails (unsent, or applied with its reply lost): counted once, fired once."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 3)
    run_chord(chord, 0, ("add", fault))
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
    assert backend.results.remaining(chord.group_id) == 0
    assert backend.recover_chords(grace=NOW).sent == []


@pytest.mark.parametrize("fault", ["before", "after"])
def test_a_lost_last_decrement_fires_at_once(
    alias: str, fault: Fault, sent_callbacks: SentCallbacks
) -> None:
    """The last part's decrement fails, applied or not: every part is marked, so it fires once."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 3)
    run_chord(chord, 2, ("incr", fault))
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
    assert backend.results.remaining(chord.group_id) == (0 if fault == "after" else 1)
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1


def test_an_earlier_decrement_applied_but_lost_fires_once(
    alias: str, sent_callbacks: SentCallbacks
) -> None:
    """An earlier decrement applied with its reply lost is not sent again: no early fire."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 3)
    report(chord, chord.task_ids[0], 0, ("incr", "after"))
    report(chord, chord.task_ids[1], 1)
    assert sent_callbacks.sent == []
    report(chord, chord.task_ids[2], 2)
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1


def test_an_earlier_decrement_never_applied_fires_at_the_last_part(
    alias: str, sent_callbacks: SentCallbacks
) -> None:
    """An earlier decrement lost unsent leaves the counter one short: the last part fires it."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 3)
    report(chord, chord.task_ids[0], 0, ("incr", "before"))
    report(chord, chord.task_ids[1], 1)
    assert sent_callbacks.sent == []
    report(chord, chord.task_ids[2], 2)
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1, 2],))]
    assert backend.results.remaining(chord.group_id) == 1
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1


def test_decrements_never_applied_are_recovered_once(
    alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Decrements lost unsent leave the counter far short: recovery fires the chord, once."""
    backend, _ = faulty_backend(alias, **RETRYING)
    size = SHORT_COUNTS_CHECKED + 2
    chord = Chord(backend, size)
    report(chord, chord.task_ids[0], 0, ("incr", "before"))
    assert backend.chords_awaiting_recovery(NOW) == []
    for n in range(1, size):
        faults: list[tuple[str, Fault]] = [("incr", "before")] if n < size - 1 else []
        report(chord, chord.task_ids[n], n, *faults)
    assert sent_callbacks.sent == []
    assert backend.results.remaining(chord.group_id) == size - 1
    assert backend.chords_awaiting_recovery(NOW) == [chord.group_id]
    assert backend.recover_chords(grace=NOW).sent == [chord.group_id]
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", (list(range(size)),))]
    assert backend.recover_chords(grace=NOW).sent == []
    assert len(sent_callbacks.sent) == 1


def test_the_uncertain_flag_survives_its_own_failure(
    alias: str, sent_callbacks: SentCallbacks
) -> None:
    """The flag's write and the marks' read are retried too: the chord still fires once."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 2)
    report(chord, chord.task_ids[0], 0)
    report(
        chord,
        chord.task_ids[1],
        1,
        ("incr", "before"),
        ("set", "before"),
        ("get_many", "after"),
    )
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1],))]


def test_without_always_retry_the_error_propagates(alias: str) -> None:
    """With ``result_backend_always_retry`` off a failed count raises, as Celery's steps do."""
    backend, _ = faulty_backend(alias)
    chord = Chord(backend, 2)
    backend.store_result(chord.task_ids[0], 0, states.SUCCESS)
    backend.store.fail("add", "before")  # type: ignore[attr-defined]
    with pytest.raises(TransientStorageError):
        chord.count_only(chord.task_ids[0])


def test_a_claim_whose_reply_was_lost_still_sends(
    alias: str, sent_callbacks: SentCallbacks
) -> None:
    """The last part's claim applied but its reply lost: retried, it is ours, and sends once."""
    backend, _ = faulty_backend(alias, **RETRYING)
    chord = Chord(backend, 2)
    report(chord, chord.task_ids[0], 0)
    # The part's mark, then the claim: the claim's add is applied and reported failed.
    report(chord, chord.task_ids[1], 1, ("add", "ok"), ("add", "after"))
    assert sent_callbacks.sent == [(chord.callback.id, "tests.tsum", ([0, 1],))]
    assert backend.recover_chords(grace=NOW).sent == []
