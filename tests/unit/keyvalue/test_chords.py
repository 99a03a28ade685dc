"""Chord counting over a key-value store: each header task counted once, one last part."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain.errors import InvalidRecordError, StorageError
from django_celery_results.domain.keyvalue import CHORD_COUNT_FLOOR, KeyValueResultStore
from tests.unit.keyvalue.stores import ClampingStore, CountingStore, FailingIncrementStore

# -- chord counting ------------------------------------------------------------------------


def test_chord_fires_once_at_its_last_part(results: KeyValueResultStore) -> None:
    """Of a chord's parts only the last counted one is ``is_last``."""
    results.start_chord("g", 3, 60)
    counts = [results.count_part("g", f"t{i}", 60) for i in range(3)]
    assert [(c.remaining, c.counted, c.is_last) for c in counts] == [
        (2, True, False),
        (1, True, False),
        (0, True, True),
    ]
    assert results.remaining("g") == 0


def test_a_duplicate_part_is_not_counted(results: KeyValueResultStore) -> None:
    """A header task reported twice counts once, so the chord waits for its real last task."""
    results.start_chord("g", 2, 60)
    assert results.count_part("g", "t0", 60).counted
    duplicate = results.count_part("g", "t0", 60)
    assert (duplicate.remaining, duplicate.counted, duplicate.chord_is_known) == (1, False, True)
    assert results.count_part("g", "t1", 60).is_last


def test_a_part_after_the_chord_finished_is_not_last(results: KeyValueResultStore) -> None:
    """Once finished (marks cleared), a late duplicate is counted past the end, never last."""
    results.start_chord("g", 1, 60)
    assert results.count_part("g", "t0", 60).is_last
    results.finish_chord("g", ["t0"])
    late = results.count_part("g", "t0", 60)
    assert (late.counted, late.is_last, late.chord_is_known) == (False, False, True)


def test_counting_down_never_fires_twice_where_decrement_stops_at_zero() -> None:
    """On a store whose decrement stops at zero (memcached), extra parts never read zero again."""
    results = KeyValueResultStore(ClampingStore())
    results.start_chord("g", 2, 60)
    outcomes = [results.count_part("g", f"t{i}", 60) for i in range(2)]
    results.finish_chord("g", ["t0", "t1"])
    outcomes += [results.count_part("g", f"t{i}", 60) for i in range(5)]
    assert sum(outcome.is_last for outcome in outcomes) == 1


def test_a_chord_without_counter_is_unknown(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """A part of a chord that has no counter reports remaining None and leaves no mark."""
    part = results.count_part("never-started", "t0", 60)
    assert (part.remaining, part.counted, part.chord_is_known) == (None, False, False)
    assert store.inner.get(results.naming.part_key("never-started", "t0")) is None


def test_a_part_marked_after_its_counter_expired_is_known(results: KeyValueResultStore) -> None:
    """A duplicate whose chord counter is gone is a duplicate, not an unknown chord."""
    results.start_chord("g", 2, 60)
    results.count_part("g", "t0", 60)
    results.store.delete(results.naming.chord_key("g"))
    duplicate = results.count_part("g", "t0", 60)
    assert (duplicate.counted, duplicate.chord_is_known) == (False, True)


def test_a_failed_decrement_unmarks_the_part() -> None:
    """When the decrement fails the mark is removed, so a redelivered task can count."""
    store = FailingIncrementStore()
    results = KeyValueResultStore(store)
    results.start_chord("g", 2, 60)
    with pytest.raises(StorageError):
        results.count_part("g", "t0", 60)
    assert store.inner.get(results.naming.part_key("g", "t0")) is None
    assert store.calls == ["set", "add", "incr", "delete"]


def test_a_part_costs_two_calls(results: KeyValueResultStore, store: CountingStore) -> None:
    """Counting a part is one add (the mark) and one incr (the count)."""
    results.start_chord("g", 2, 60)
    store.calls.clear()
    results.count_part("g", "t0", 60)
    assert store.calls == ["add", "incr"]


def test_finish_deletes_marks_in_one_call(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """finish_chord removes every part mark in one delete_many and keeps the counter."""
    results.start_chord("g", 200, 60)
    for index in range(200):
        results.count_part("g", f"t{index}", 60)
    store.calls.clear()
    results.finish_chord("g", [f"t{index}" for index in range(200)])
    assert store.calls == ["delete_many"]
    assert store.inner.get(results.naming.part_key("g", "t7")) is None
    assert store.inner.get(results.naming.chord_key("g")) == CHORD_COUNT_FLOOR


@pytest.mark.parametrize("size", [-1, True, 1.5])
def test_chord_size_must_be_a_count(results: KeyValueResultStore, size: Any) -> None:
    """start_chord refuses a size that is not a whole number >= 0."""
    with pytest.raises(InvalidRecordError, match="size"):
        results.start_chord("g", size, 60)


def test_concurrent_parts_fire_exactly_once() -> None:
    """200 parts (some reported twice) on 8 threads: exactly one is last, after all counted."""
    results = KeyValueResultStore(MemoryKeyValueStore())
    results.start_chord("g", 200, 60)
    task_ids = [f"t{i}" for i in range(200)] + [f"t{i}" for i in range(0, 200, 7)]
    lasts: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def work(chunk: list[str]) -> None:
        barrier.wait(timeout=30)
        for task_id in chunk:
            if results.count_part("g", task_id, 60).is_last:
                with lock:
                    lasts.append(task_id)

    threads = [threading.Thread(target=work, args=(task_ids[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(lasts) == 1
    assert results.remaining("g") == 0
