"""The key-value domain (``domain.keyvalue``) over the memory store, and that store's contract."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from itertools import product
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain import keyvalue, states
from django_celery_results.domain.errors import (
    InvalidRecordError,
    StorageError,
    TransientStorageError,
)
from django_celery_results.domain.keyvalue import (
    CHORD_COUNT_FLOOR,
    KeyNaming,
    KeyValueResultStore,
    escape_id,
)
from django_celery_results.domain.ports import KeyValueStore
from django_celery_results.domain.records import PartCount
from tests.faulty_store import Fault, FaultyStore
from tests.keyvalue_contract import PRINTABLE, KeyValueStoreContract

PROGRESS = "PROGRESS"
ALL_STATES = (
    states.PENDING,
    states.RECEIVED,
    states.STARTED,
    states.RETRY,
    states.SUCCESS,
    states.FAILURE,
    states.REVOKED,
    states.REJECTED,
    states.IGNORED,
    PROGRESS,
)
UUID = "d7a8fbb3-07d4-4f1b-8e3f-2b5f3c6f2a10"
#: What a key may consist of: printable ASCII without the space.
KEY_CHARACTERS = set(PRINTABLE)

ids = st.text(min_size=1, max_size=400)


def meta(status: str, result: Any = None, **extra: Any) -> dict[str, Any]:
    """A Celery meta as the bridge stores it."""
    return {"status": status, "result": result, "traceback": None, "children": [], **extra}


class CountingStore:
    """A ``KeyValueStore`` that records every call it passes on to a memory store.

    Args:
        inner: the store that does the work.
    """

    def __init__(self, inner: KeyValueStore | None = None) -> None:
        self.inner = inner or MemoryKeyValueStore()
        self.calls: list[str] = []
        self.atomic_increment = self.inner.atomic_increment
        self.atomic_add = self.inner.atomic_add
        self.max_key_length = self.inner.max_key_length

    def get(self, key: str) -> Any:
        """Record and pass on."""
        self.calls.append("get")
        return self.inner.get(key)

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """Record and pass on."""
        self.calls.append("get_many")
        return self.inner.get_many(keys)

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """Record and pass on."""
        self.calls.append("set")
        self.inner.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """Record and pass on."""
        self.calls.append("add")
        return self.inner.add(key, value, timeout)

    def delete(self, key: str) -> None:
        """Record and pass on."""
        self.calls.append("delete")
        self.inner.delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Record and pass on."""
        self.calls.append("delete_many")
        self.inner.delete_many(keys)

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Record and pass on."""
        self.calls.append("incr")
        return self.inner.incr(key, delta)

    def touch(self, key: str, timeout: float | None) -> bool:
        """Record and pass on."""
        self.calls.append("touch")
        return self.inner.touch(key, timeout)


class ClampingStore(CountingStore):
    """A store whose decrement stops at zero, as memcached's ``decr`` does."""

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta``, but never below zero."""
        value = super().incr(key, delta)
        if value is not None and value < 0:
            self.inner.set(key, 0, None)
            return 0
        return value


class FailingIncrementStore(CountingStore):
    """A store whose increment fails as a lost connection would."""

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Raise TransientStorageError."""
        self.calls.append("incr")
        raise TransientStorageError("connection lost", alias="test")


@pytest.fixture
def store() -> CountingStore:
    """An empty memory store that counts its calls."""
    return CountingStore()


@pytest.fixture
def results(store: CountingStore) -> KeyValueResultStore:
    """The use cases over that store."""
    return KeyValueResultStore(store)


# -- the memory store honours the port's contract ----------------------------------------


class TestMemoryKeyValueStore(KeyValueStoreContract):
    """MemoryKeyValueStore honours the KeyValueStore contract."""

    @pytest.fixture
    def kv(self) -> KeyValueStore:
        """A fresh memory store."""
        return MemoryKeyValueStore()

    def test_clock_drives_expiry(self) -> None:
        """The store's clock, not the wall clock, decides when a key expires."""
        now = [100.0]
        kv = MemoryKeyValueStore(clock=lambda: now[0])
        kv.set("k", 1, 10)
        now[0] = 109.9
        assert kv.get("k") == 1
        now[0] = 110.0
        assert kv.get("k") is None
        assert kv.incr("k") is None


# -- key names -----------------------------------------------------------------------------


def test_plain_ids_keep_celerys_keys() -> None:
    """A UUID task id maps to Celery's own keys, so the old package's entries read back."""
    naming = KeyNaming()
    assert naming.task_key(UUID) == f"celery-task-meta-{UUID}"
    assert naming.group_key(UUID) == f"celery-taskset-meta-{UUID}"
    assert naming.chord_key(UUID) == f"chord-unlock-{UUID}"
    assert naming.final_key(UUID) == f"celery-task-final-{UUID}"
    assert naming.part_key(UUID, "t") == f"celery-chord-part-{UUID}/t"


@pytest.mark.parametrize(
    ("ident", "escaped"),
    [
        ("with space", "with%20space"),
        ("tab\there", "tab%09here"),
        ("nul\x00", "nul%00"),
        ("del\x7f", "del%7F"),
        ("100%", "100%25"),
        ("café", "caf%C3%A9"),
        ("🎉", "%F0%9F%8E%89"),
        (PRINTABLE.replace("%", ""), PRINTABLE.replace("%", "")),
    ],
)
def test_escape_id(ident: str, escaped: str) -> None:
    """Spaces, control and non-ASCII characters and ``%`` are percent-encoded, nothing else."""
    assert escape_id(ident) == escaped


@given(ids)
def test_keys_are_plain_ascii_within_the_limit(ident: str) -> None:
    """Any id gives keys of printable ASCII without spaces, at most max_length long."""
    naming = KeyNaming(max_length=120)
    for key in (
        naming.task_key(ident),
        naming.final_key(ident),
        naming.group_key(ident),
        naming.chord_key(ident),
        naming.part_key(ident, ident),
    ):
        assert set(key) <= KEY_CHARACTERS, key
        assert len(key) <= 120


@given(ids, ids)
def test_distinct_ids_never_share_a_key(first: str, second: str) -> None:
    """Escaping and digests are one-to-one: two ids have two keys (also when shortened)."""
    naming = KeyNaming(max_length=120)
    assert (naming.task_key(first) == naming.task_key(second)) == (first == second)


@given(ids, ids, ids, ids)
def test_distinct_pairs_never_share_a_part_key(g1: str, t1: str, g2: str, t2: str) -> None:
    """A part key names one (group, task) pair, whatever ``/`` the ids contain."""
    naming = KeyNaming(max_length=120)
    same_key = naming.part_key(g1, t1) == naming.part_key(g2, t2)
    assert same_key == ((g1, t1) == (g2, t2))


def test_separator_inside_ids_does_not_collide() -> None:
    """("a/b", "c") and ("a", "b/c") are different parts."""
    naming = KeyNaming()
    assert naming.part_key("a/b", "c") != naming.part_key("a", "b/c")


def test_long_ids_are_shortened_to_a_digest() -> None:
    """An id too long for the limit becomes ``%%`` and its SHA-256, within the limit."""
    naming = KeyNaming()
    key = naming.task_key("x" * 300)
    assert key.startswith("celery-task-meta-%%")
    assert len(key) == len("celery-task-meta-%%") + 64
    assert naming.task_key("x" * 300) == key
    assert naming.task_key("x" * 301) != key


def test_an_id_exactly_at_the_limit_is_kept() -> None:
    """An escaped id that just fits stays readable; one more character switches to a digest."""
    naming = KeyNaming(max_length=120)
    fits = "a" * (120 - len("celery-task-meta-"))
    assert naming.task_key(fits) == f"celery-task-meta-{fits}"
    assert "%%" in naming.task_key(fits + "a")


@pytest.mark.parametrize("ident", ["", None, True, 1.5, b"t"])
def test_empty_or_non_text_ids_are_refused(ident: Any) -> None:
    """An empty id, or one neither str, int nor UUID, raises InvalidRecordError naming the field."""
    with pytest.raises(InvalidRecordError, match="task_id"):
        KeyNaming().task_key(ident)
    with pytest.raises(InvalidRecordError, match="group_id"):
        KeyNaming().part_key(ident, "t")


@pytest.mark.parametrize(
    "ident", [123, uuid.UUID("6f1c6c3e-8d3b-4b8e-9a55-0f6f1b0d2c11")], ids=["int", "uuid"]
)
def test_int_and_uuid_ids_name_the_keys_of_their_str(ident: int | uuid.UUID) -> None:
    """An int or UUID id is the same task, group and part as its str() (issue 9, defect 3)."""
    naming = KeyNaming()
    text = str(ident)
    assert naming.task_key(ident) == naming.task_key(text) == f"celery-task-meta-{text}"
    assert naming.group_key(ident) == naming.group_key(text)
    assert naming.part_key(ident, ident) == naming.part_key(text, text)
    results = KeyValueResultStore(MemoryKeyValueStore())
    results.store_meta(ident, {"status": "SUCCESS", "result": 1}, None)
    assert results.get_meta(text) == {"status": "SUCCESS", "result": 1}
    assert results.get_metas([ident]) == {text: {"status": "SUCCESS", "result": 1}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task_prefix": "with space-"}, "task_prefix"),
        ({"group_prefix": ""}, "group_prefix"),
        ({"chord_prefix": "pct%-"}, "chord_prefix"),
        ({"final_prefix": "celery-task-meta-"}, "must differ"),
        ({"part_prefix": "celery-task-meta-x-"}, "could collide"),
        ({"max_length": 80}, "no room"),
        ({"max_length": 0}, "max_length"),
    ],
)
def test_naming_validates_its_prefixes(changes: dict[str, Any], message: str) -> None:
    """Unsafe, equal or overlapping prefixes and a limit with no room are refused."""
    with pytest.raises(InvalidRecordError, match=message):
        KeyNaming(**changes)


# -- lifetimes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "timeout"),
    [
        (None, None),
        (0, None),
        (0.0, None),
        (-5, None),
        (timedelta(0), None),
        (1, 1),
        (86400.0, 86400.0),
        (timedelta(days=1), 86400.0),
    ],
)
def test_lifetime(expires: Any, timeout: float | None) -> None:
    """result_expires 0 or None means never expire (the old package stored nothing for 0)."""
    assert keyvalue.lifetime(expires) == timeout


@pytest.mark.parametrize(
    ("result_expires", "chord_expires", "timeout"),
    [
        (3600, None, 3600),
        (3600, 60, 3600),
        (60, 3600, 3600),
        (0, 3600, None),
        (3600, 0, None),
        (None, None, None),
        (timedelta(hours=1), timedelta(hours=2), 7200.0),
    ],
)
def test_chord_lifetime(result_expires: Any, chord_expires: Any, timeout: float | None) -> None:
    """A chord's keys live as long as the longer of the two settings, or for ever."""
    assert keyvalue.chord_lifetime(result_expires, chord_expires) == timeout


# -- the transition policy on stored metas -------------------------------------------------


@pytest.mark.parametrize(("stored", "incoming"), list(product(ALL_STATES, ALL_STATES)))
def test_may_replace_is_the_state_policy(stored: str, incoming: str) -> None:
    """may_replace applies states.may_overwrite to a stored meta's status."""
    assert keyvalue.may_replace(meta(stored), incoming) is states.may_overwrite(stored, incoming)


@pytest.mark.parametrize("stored", [None, "not a meta", {}, {"status": ""}, {"status": 3}])
def test_values_without_a_status_never_block(stored: Any) -> None:
    """Nothing stored, or a value that is no meta, never blocks a new state."""
    assert keyvalue.may_replace(stored, states.STARTED)


@pytest.mark.parametrize(("stored", "incoming"), list(product(ALL_STATES, ALL_STATES)))
def test_store_meta_follows_the_policy(
    results: KeyValueResultStore, stored: str, incoming: str
) -> None:
    """store_meta writes unless the stored state blocks the incoming one; readers agree."""
    results.store_meta(UUID, meta(stored, "old"), 60)
    written = results.store_meta(UUID, meta(incoming, "new"), 60)
    assert written is states.may_overwrite(stored, incoming)
    assert results.get_meta(UUID) == meta(
        incoming if written else stored, "new" if written else "old"
    )


def test_first_success_is_final(results: KeyValueResultStore) -> None:
    """After a SUCCESS no later state, not even another SUCCESS, changes what readers see."""
    assert results.store_meta(UUID, meta(states.SUCCESS, "first"), 60)
    for status in ALL_STATES:
        assert results.store_meta(UUID, meta(status, "late"), 60) is False, status
    assert results.get_meta(UUID) == meta(states.SUCCESS, "first")


def test_success_wins_a_race_with_a_late_state(store: CountingStore) -> None:
    """A STARTED that read before a SUCCESS was added and wrote after it is not what readers see.

    The write of the late state lands on the task key (its read saw no SUCCESS), but the final
    key holds the SUCCESS and readers prefer it.
    """
    results = KeyValueResultStore(store)

    class SuccessSneaksIn(CountingStore):
        """Lets a SUCCESS be stored right after the late state's read."""

        def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
            found = super().get_many(keys)
            results.store_meta(UUID, meta(states.SUCCESS, "done"), 60)
            return found

    racing = KeyValueResultStore(SuccessSneaksIn(store.inner))
    assert racing.store_meta(UUID, meta(states.STARTED), 60) is True
    assert store.inner.get(results.naming.task_key(UUID))["status"] == states.STARTED
    assert results.get_meta(UUID) == meta(states.SUCCESS, "done")


def test_success_writes_both_keys(results: KeyValueResultStore, store: CountingStore) -> None:
    """A SUCCESS is added under the final key and set under the task key: two calls."""
    results.store_meta(UUID, meta(states.SUCCESS, 5), 60)
    assert store.calls == ["add", "set"]
    assert store.inner.get(results.naming.task_key(UUID)) == meta(states.SUCCESS, 5)
    assert store.inner.get(results.naming.final_key(UUID)) == meta(states.SUCCESS, 5)


def test_other_states_read_once_and_write_once(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """A non-SUCCESS state costs one get_many (both keys) and one set."""
    results.store_meta(UUID, meta(states.STARTED), 60)
    assert store.calls == ["get_many", "set"]
    assert store.inner.get(results.naming.final_key(UUID)) is None


def test_a_meta_needs_a_status(results: KeyValueResultStore) -> None:
    """A meta without a state name is refused before anything is stored."""
    with pytest.raises(InvalidRecordError, match="status"):
        results.store_meta(UUID, {"result": 1}, 60)


def test_a_stored_value_that_is_no_meta_is_an_error(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """Reading a task key that holds something else raises InvalidRecordError naming the key."""
    store.set(results.naming.task_key(UUID), "garbage", 60)
    with pytest.raises(InvalidRecordError, match="celery-task-meta-"):
        results.get_meta(UUID)


def test_get_metas_reads_a_whole_group_in_one_call(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """get_metas of 200 ids is one get_many, and returns only the stored ones."""
    for index in range(0, 200, 2):
        results.store_meta(f"t{index}", meta(states.SUCCESS, index), 60)
    results.store_meta("t1", meta(states.FAILURE, "x"), 60)
    store.calls.clear()
    found = results.get_metas(f"t{index}" for index in range(200))
    assert store.calls == ["get_many"]
    assert set(found) == {f"t{index}" for index in range(0, 200, 2)} | {"t1"}
    assert found["t4"] == meta(states.SUCCESS, 4)
    assert found["t1"] == meta(states.FAILURE, "x")


def test_get_metas_of_nothing_makes_no_call(
    results: KeyValueResultStore, store: CountingStore
) -> None:
    """No ids, no round trip."""
    assert results.get_metas([]) == {}
    assert store.calls == []


def test_forget_removes_both_keys(results: KeyValueResultStore, store: CountingStore) -> None:
    """forget() removes the task key and the final key in one call."""
    results.store_meta(UUID, meta(states.SUCCESS, 1), 60)
    store.calls.clear()
    results.forget(UUID)
    assert store.calls == ["delete_many"]
    assert results.get_meta(UUID) is None
    results.forget(UUID)


def test_groups_round_trip(results: KeyValueResultStore) -> None:
    """A saved group reads back, is replaced by a later save, and is deleted."""
    assert results.get_group("g") is None
    results.save_group("g", {"result": (("g", None), [])}, 60)
    results.save_group("g", {"result": (("g", None), [(("t", None), None)])}, None)
    assert results.get_group("g") == {"result": (("g", None), [(("t", None), None)])}
    results.delete_group("g")
    assert results.get_group("g") is None
    results.delete_group("g")


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
