"""Chord counting through transient failures (RELIABILITY.md: a chord lost on Redis)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain import keyvalue
from django_celery_results.domain.errors import StorageError, TransientStorageError
from django_celery_results.domain.keyvalue import KeyValueResultStore
from django_celery_results.domain.records import PartCount
from tests.faulty_store import Fault, FaultyStore
from tests.unit.keyvalue.stores import CountingStore

# -- counting through transient failures (RELIABILITY.md: a chord lost on Redis) -------------


#: The fault of a call that never reached the store.
BEFORE: Fault = "before"


def retry_transient(step: Callable[[], Any]) -> Any:
    """Run ``step``, again after each TransientStorageError (up to five times), no sleeping."""
    for _ in range(5):
        with contextlib.suppress(TransientStorageError):
            return step()
    return step()


def faulty_chord(size: int) -> tuple[KeyValueResultStore, FaultyStore, list[str]]:
    """A chord of ``size`` header tasks started over a FaultyStore, its header saved."""
    store = FaultyStore(MemoryKeyValueStore())
    results = KeyValueResultStore(store)
    task_ids = [f"t{i}" for i in range(size)]
    results.save_group("g", {"result": (("g", None), [((t, None), None) for t in task_ids])}, 60)
    results.start_chord("g", size, 60)
    results.remember_chord("g", {"task": "callback"}, 0.0, 60)
    return results, store, task_ids


def count(results: KeyValueResultStore, task_id: str) -> PartCount:
    """Count ``task_id`` of chord ``g`` with retries on."""
    return results.count_part("g", task_id, 60, retry=retry_transient)


def due_now(results: KeyValueResultStore) -> list[str]:
    """The chords recovery would send now."""
    return [group_id for group_id, _ in results.chords_to_recover(30.0, 0.0, 600.0, 10)]


@pytest.mark.parametrize("fault", ["before", "after"])
def test_a_failed_mark_is_retried_and_counts_once(fault: Fault) -> None:
    """A mark lost before or after the server set it is retried; the part counts exactly once."""
    results, store, task_ids = faulty_chord(2)
    store.fail("add", fault)
    assert count(results, task_ids[0]) == PartCount(remaining=1, counted=True)
    assert store.calls.count("incr") == 1 + 1  # remember_chord's slot, then this decrement
    assert count(results, task_ids[0]) == PartCount(remaining=1, counted=False)
    assert count(results, task_ids[1]).is_last


def test_a_retried_mark_set_by_another_report_is_a_duplicate() -> None:
    """A retried mark that finds another report's token counts nothing."""
    results, store, task_ids = faulty_chord(2)
    assert count(results, task_ids[0]).counted
    store.fail("add", "before")
    assert count(results, task_ids[0]) == PartCount(remaining=1, counted=False)
    assert results.remaining("g") == 1


@pytest.mark.parametrize("fault", ["before", "after"])
def test_a_lost_last_decrement_fires_from_the_marks(fault: Fault) -> None:
    """The last part's decrement lost (applied or not): never sent again, the marks fire it."""
    results, store, task_ids = faulty_chord(2)
    assert not count(results, task_ids[0]).is_last
    store.fail("incr", fault)
    incrs = store.calls.count("incr")
    assert count(results, task_ids[1]).is_last
    assert store.calls.count("incr") == incrs + 1
    assert results.remaining("g") == (0 if fault == "after" else 1)


def test_a_lost_decrement_applied_fires_once_at_the_real_last_part() -> None:
    """An earlier part's decrement applied but its reply lost: only the last part fires."""
    results, store, task_ids = faulty_chord(3)
    store.fail("incr", "after")
    outcomes = [count(results, task_id) for task_id in task_ids]
    assert [outcome.is_last for outcome in outcomes] == [False, False, True]
    assert results.remaining("g") == 0


def test_lost_decrements_not_applied_are_left_to_recovery() -> None:
    """Decrements lost and the last parts' counts far from the end: recovery lists the chord."""
    size = keyvalue.SHORT_COUNTS_CHECKED + 2
    results, store, task_ids = faulty_chord(size)
    store.fail("incr", *[BEFORE] * (size - 1))
    outcomes = [count(results, task_id) for task_id in task_ids]
    assert not any(outcome.is_last for outcome in outcomes)
    assert results.remaining("g") == size - 1
    assert due_now(results) == ["g"]
    assert results.claim_callback("g", 60)
    assert due_now(results) == []


def test_an_uncertain_chord_with_parts_to_come_is_not_due() -> None:
    """A chord flagged uncertain whose header tasks are not all marked is not recovered."""
    results, store, task_ids = faulty_chord(3)
    store.fail("incr", "before")
    assert count(results, task_ids[0]) == PartCount(remaining=2, counted=True)
    assert count(results, task_ids[1]) == PartCount(remaining=2, counted=True)
    assert due_now(results) == []


def test_uncertain_marks_of_nested_groups_are_their_tasks() -> None:
    """The header's members are its reporting tasks: those inside nested groups too."""
    results, store, _ = faulty_chord(0)
    header = (("g", None), [(("a", None), None), (("inner", None), [(("b", None), None)])])
    results.save_group("g", {"result": header}, 60)
    results.start_chord("g", 2, 60)
    assert not count(results, "a").is_last
    store.fail("incr", "before")
    assert count(results, "b").is_last


def test_without_retry_a_failed_mark_propagates() -> None:
    """With retries off (``result_backend_always_retry`` unset) a failed mark raises, as before."""
    results, store, task_ids = faulty_chord(2)
    store.fail("add", "before")
    with pytest.raises(TransientStorageError):
        results.count_part("g", task_ids[0], 60)


def test_an_uncertain_count_is_told_to_the_caller() -> None:
    """``on_uncertain`` hears of a decrement that failed (the bridge logs it), and only then."""
    results, store, task_ids = faulty_chord(2)
    told: list[StorageError] = []
    results.count_part("g", task_ids[0], 60, retry=retry_transient, on_uncertain=told.append)
    assert told == []
    store.fail("incr", "after")
    results.count_part("g", task_ids[1], 60, retry=retry_transient, on_uncertain=told.append)
    assert [type(error) for error in told] == [TransientStorageError]


@pytest.mark.parametrize("lost", [1, 2])
def test_a_part_left_short_by_lost_decrements_fires_from_the_marks(lost: int) -> None:
    """The real last part of a chord whose earlier decrements were lost fires it, not recovery."""
    results, store, task_ids = faulty_chord(4)
    store.fail("incr", *[BEFORE] * lost)
    assert not any(count(results, task_id).is_last for task_id in task_ids[:3])
    assert count(results, task_ids[3]) == PartCount(remaining=0, counted=True)
    assert results.remaining("g") == lost


def test_one_short_without_a_flag_costs_one_read(store: CountingStore) -> None:
    """With retries on, the part leaving one to count reads the flag, and nothing more."""
    results = KeyValueResultStore(store)
    results.start_chord("g", 2, 60)
    store.calls.clear()
    assert not results.count_part("g", "t0", 60, retry=retry_transient).is_last
    assert store.calls == ["add", "incr", "get"]


def test_a_retried_claim_recognises_its_own_token() -> None:
    """A claim applied whose reply was lost is ours when retried with the same token."""
    results, store, _ = faulty_chord(1)
    store.fail("add", "after")
    assert retry_transient(lambda: results.claim_callback("g", 60, "mine"))
    assert not results.claim_callback("g", 60, "theirs")
    assert not results.claim_callback("g", 60)
