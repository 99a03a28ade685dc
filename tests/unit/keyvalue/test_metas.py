"""Lifetimes, and the transition policy on stored metas: a SUCCESS is final; groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from itertools import product
from typing import Any

import pytest

from django_celery_results.domain import keyvalue, states
from django_celery_results.domain.errors import InvalidRecordError
from django_celery_results.domain.keyvalue import KeyValueResultStore
from tests.unit.keyvalue.stores import ALL_STATES, UUID, CountingStore, meta

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
