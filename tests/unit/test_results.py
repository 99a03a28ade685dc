"""The use cases of ``domain.results.ResultStore`` over the memory adapter and a frozen clock."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.adapters.memory import (
    MemoryChordCounterRepository,
    MemoryGroupRepository,
    MemoryTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import InvalidRecordError
from django_celery_results.domain.records import (
    ChordCounter,
    FieldLimits,
    GroupRecord,
    PartCount,
    TaskRecord,
)
from django_celery_results.domain.results import DEFAULT_EXPIRY_BATCH, ExpiryReport, ResultStore
from tests.contract.support import ALL_STATES
from tests.fakes import EPOCH, FrozenClock

SECOND = timedelta(seconds=1)


def make_store(clock: FrozenClock, limits: FieldLimits | None = None) -> ResultStore:
    """A ResultStore over fresh memory repositories."""
    return ResultStore(
        tasks=MemoryTaskRepository(limits),
        groups=MemoryGroupRepository(),
        chords=MemoryChordCounterRepository(),
        clock=clock,
    )


@pytest.fixture
def store(frozen_clock: FrozenClock) -> ResultStore:
    """A ResultStore over fresh memory repositories and the test's frozen clock."""
    return make_store(frozen_clock)


def task(status: str = states.SUCCESS, result: str | None = '"ok"', **fields: Any) -> TaskRecord:
    """A task record for id "t" with no dates, as the bridge builds it."""
    return TaskRecord(
        task_id="t", status=status, content_type="application/json", content_encoding="utf-8",
        result=result, **fields,
    )  # fmt: skip


# -- store_task ------------------------------------------------------------------------------


def test_first_store_dates(store: ResultStore) -> None:
    """The first state stored gets date_created = date_done = now and no date_started."""
    assert store.store_task(task(states.PENDING)) is True
    stored = store.get_task("t")
    assert stored is not None
    assert (stored.date_created, stored.date_started, stored.date_done) == (EPOCH, None, EPOCH)


def test_started_sets_date_started(store: ResultStore, frozen_clock: FrozenClock) -> None:
    """STARTED stamps date_started with now; later states keep it and move date_done."""
    store.store_task(task(states.PENDING))
    started_at = frozen_clock.advance(SECOND)
    store.store_task(task(states.STARTED))
    done_at = frozen_clock.advance(SECOND)
    store.store_task(task(states.SUCCESS))
    stored = store.get_task("t")
    assert stored is not None
    assert (stored.date_created, stored.date_started, stored.date_done) == (
        EPOCH,
        started_at,
        done_at,
    )


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != states.STARTED])
def test_only_started_stamps_date_started(store: ResultStore, status: str) -> None:
    """No state but STARTED sets date_started."""
    store.store_task(task(status))
    stored = store.get_task("t")
    assert stored is not None
    assert stored.date_started is None


def test_given_dates_are_replaced_by_the_clock(store: ResultStore) -> None:
    """date_done always comes from the clock; a given date_created is kept on a first write."""
    created = EPOCH - timedelta(days=1)
    store.store_task(attrs.evolve(task(), date_created=created, date_done=EPOCH - SECOND))
    stored = store.get_task("t")
    assert stored is not None
    assert (stored.date_created, stored.date_done) == (created, EPOCH)


def test_refused_store_changes_nothing(store: ResultStore, frozen_clock: FrozenClock) -> None:
    """A state blocked by the policy returns False and leaves the stored record, dates too."""
    store.store_task(task(states.SUCCESS, result='"first"'))
    before = store.get_task("t")
    frozen_clock.advance(SECOND)
    assert store.store_task(task(states.STARTED, result=None)) is False
    assert store.get_task("t") == before


def test_oversize_field_is_refused_before_storage(frozen_clock: FrozenClock) -> None:
    """A field longer than the repository's limits raises and touches nothing stored."""
    store = make_store(frozen_clock, FieldLimits(worker=5))
    store.store_task(task(states.STARTED, worker="w1"))
    before = store.get_task("t")
    with pytest.raises(InvalidRecordError, match=r"^worker: 6 characters .* limit of 5"):
        store.store_task(task(states.SUCCESS, worker="w12345"))
    assert store.get_task("t") == before


def test_oversize_new_task_is_not_stored(store: ResultStore) -> None:
    """An oversize first state raises and stores nothing."""
    with pytest.raises(InvalidRecordError, match=r"^task_name: "):
        store.store_task(task(task_name="n" * 256))
    assert store.get_task("t") is None


# -- reading and forgetting ------------------------------------------------------------------


def test_get_unknown_task_is_none(store: ResultStore) -> None:
    """An unknown task reads as None (Celery shows it as PENDING)."""
    assert store.get_task("unknown") is None


def test_get_tasks(store: ResultStore) -> None:
    """get_tasks() returns the stored records among the ids, keyed by id."""
    for task_id in ("a", "b"):
        store.store_task(attrs.evolve(task(), task_id=task_id))
    found = store.get_tasks(["a", "b", "c"])
    assert set(found) == {"a", "b"}
    assert found["a"] == store.get_task("a")


def test_forget_task(store: ResultStore) -> None:
    """forget_task() removes the record; forgetting an unknown id is fine."""
    store.store_task(task())
    store.forget_task("t")
    store.forget_task("t")
    assert store.get_task("t") is None


# -- groups ----------------------------------------------------------------------------------


def test_save_group_dates(store: ResultStore, frozen_clock: FrozenClock) -> None:
    """A group is dated by the clock; saving it again keeps date_created, moves date_done."""
    store.save_group(GroupRecord(group_id="g", result="[1]"))
    later = frozen_clock.advance(SECOND)
    store.save_group(GroupRecord(group_id="g", result="[2]"))
    stored = store.get_group("g")
    assert stored == GroupRecord(group_id="g", result="[2]", date_created=EPOCH, date_done=later)


def test_save_group_checks_limits(frozen_clock: FrozenClock) -> None:
    """A group id longer than the id limit is refused before storage."""
    store = make_store(frozen_clock, FieldLimits(id=4))
    with pytest.raises(InvalidRecordError, match=r"^group_id: "):
        store.save_group(GroupRecord(group_id="group"))
    assert store.get_group("group") is None


def test_delete_group(store: ResultStore) -> None:
    """delete_group() removes the group; an unknown id is fine."""
    store.save_group(GroupRecord(group_id="g"))
    store.delete_group("g")
    store.delete_group("g")
    assert store.get_group("g") is None


# -- chords ----------------------------------------------------------------------------------


def test_chord_lifecycle(store: ResultStore, frozen_clock: FrozenClock) -> None:
    """A chord counts each header task once down to 0; only the last count is ``is_last``."""
    store.start_chord(ChordCounter(group_id="c", sub_tasks="[]", count=2))
    counter = store.get_chord("c")
    assert counter is not None
    assert counter.date_created == frozen_clock.now()
    first = store.chord_part_returned("c", "t1")
    duplicate = store.chord_part_returned("c", "t1")
    last = store.chord_part_returned("c", "t2")
    late = store.chord_part_returned("c", "t3")
    assert (first.remaining, first.counted, first.is_last) == (1, True, False)
    assert (duplicate.remaining, duplicate.counted, duplicate.is_last) == (1, False, False)
    assert (last.remaining, last.counted, last.is_last) == (0, True, True)
    assert (late.remaining, late.counted, late.is_last) == (0, False, False)
    store.finish_chord("c")
    after = store.chord_part_returned("c", "t1")
    assert after.chord_is_known
    assert not after.is_last


def test_chord_unknown(store: ResultStore) -> None:
    """A part of a chord that was never started is reported as an unknown chord."""
    part = store.chord_part_returned("never", "t")
    assert not part.chord_is_known
    assert not part.counted
    store.finish_chord("never")


def test_start_chord_checks_id(frozen_clock: FrozenClock) -> None:
    """A chord id longer than the id limit is refused before storage."""
    store = make_store(frozen_clock, FieldLimits(id=3))
    with pytest.raises(InvalidRecordError, match=r"^group_id: "):
        store.start_chord(ChordCounter(group_id="long", count=1))
    assert not store.chord_part_returned("long", "t").chord_is_known


# -- expiry ----------------------------------------------------------------------------------


def test_delete_expired(store: ResultStore, frozen_clock: FrozenClock) -> None:
    """Results done more than ``expires`` ago go (tasks and groups); one exactly at it stays."""
    for n in range(3):
        store.store_task(attrs.evolve(task(), task_id=f"old-{n}"))
        store.save_group(GroupRecord(group_id=f"old-{n}"))
    frozen_clock.advance(timedelta(microseconds=1))
    store.store_task(attrs.evolve(task(), task_id="boundary"))
    store.save_group(GroupRecord(group_id="boundary"))
    frozen_clock.advance(timedelta(days=1))

    assert store.delete_expired(timedelta(days=1), batch_size=2) == ExpiryReport(tasks=3, groups=3)
    assert set(store.get_tasks(["old-0", "old-1", "old-2", "boundary"])) == {"boundary"}
    assert store.get_group("boundary") is not None
    assert store.get_group("old-0") is None


def test_delete_expired_leaves_the_batch_size_to_the_repositories(
    store: ResultStore, frozen_clock: FrozenClock
) -> None:
    """By default no batch size is imposed (None): each repository picks its own steps."""
    assert DEFAULT_EXPIRY_BATCH is None
    store.store_task(task())
    frozen_clock.advance(timedelta(days=2))
    assert store.delete_expired(timedelta(days=1)) == ExpiryReport(tasks=1, groups=0)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_delete_expired_rejects_bad_batch(store: ResultStore, batch_size: int) -> None:
    """A batch size below 1 is a programming error, refused before anything is deleted."""
    store.store_task(task())
    with pytest.raises(ValueError, match="batch_size"):
        store.delete_expired(timedelta(0), batch_size=batch_size)


# -- any sequence of states ------------------------------------------------------------------

any_state = st.sampled_from(ALL_STATES) | st.text(min_size=1, max_size=12)


@given(st.lists(any_state, min_size=1, max_size=25))
def test_any_state_sequence(sequence: list[str]) -> None:
    """Any states applied in order: first SUCCESS wins for good, dates follow the first write."""
    clock = FrozenClock()
    store = make_store(clock)
    previous: str | None = None
    for n, status in enumerate(sequence):
        clock.advance(SECOND)
        written = store.store_task(task(status, result=f'"{n}"'))
        assert written is states.may_overwrite(previous, status)
        if written:
            previous = status

    stored = store.get_task("t")
    assert stored is not None
    assert stored.status == previous
    assert stored.date_created == EPOCH + SECOND
    if states.SUCCESS in sequence:
        first_success = sequence.index(states.SUCCESS)
        assert (stored.status, stored.result) == (states.SUCCESS, f'"{first_success}"')
        assert stored.date_done == EPOCH + (first_success + 1) * SECOND


def test_store_chord_part_without_a_part_store_stores_then_counts(
    store: ResultStore, frozen_clock: FrozenClock
) -> None:
    """Without ``parts``, the header task is stored (dated, checked) and then counted."""
    store.start_chord(ChordCounter(group_id="c", sub_tasks="[]", count=2))
    written, part = store.store_chord_part(task(), "c")
    assert written
    assert (part.remaining, part.counted) == (1, True)
    stored = store.get_task("t")
    assert stored is not None
    assert stored.date_done == frozen_clock.now()
    with pytest.raises(InvalidRecordError, match="task_name"):
        store.store_chord_part(task(task_name="n" * 1000), "c")
    counter = store.get_chord("c")
    assert counter is not None
    assert counter.count == 1


@attrs.define
class RecordingPartStore:
    """A ChordPartStore that records what it was given and answers a fixed count."""

    calls: list[tuple[TaskRecord, str]] = attrs.Factory(list)

    def store_part(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]:
        """Record the call; answer "stored, and the last part"."""
        self.calls.append((record, group_id))
        return True, PartCount(remaining=0, counted=True)


def test_store_chord_part_goes_to_the_part_store_in_one_call(frozen_clock: FrozenClock) -> None:
    """With ``parts``, one call carries the dated record; the repositories are not called."""
    parts = RecordingPartStore()
    store = attrs.evolve(make_store(frozen_clock), parts=parts)
    written, part = store.store_chord_part(task(status=states.SUCCESS), "c")
    assert (written, part.is_last) == (True, True)
    [(record, group_id)] = parts.calls
    assert group_id == "c"
    assert record.date_done == frozen_clock.now()
    assert store.get_task("t") is None


@pytest.mark.parametrize(
    "given_id", [42, uuid.UUID(int=42), b"42-bytes"], ids=["int", "uuid", "bytes"]
)
def test_every_use_case_takes_non_str_ids(store: ResultStore, given_id: Any) -> None:
    """Reads, deletes and chord steps find what was stored under ``str(id)``."""
    text = given_id.decode() if isinstance(given_id, bytes) else str(given_id)
    store.store_task(TaskRecord(task_id=given_id, status=states.SUCCESS))
    assert store.get_task(given_id) is not None
    assert list(store.get_tasks([given_id])) == [text]
    store.forget_task(given_id)
    assert store.get_task(text) is None
    store.save_group(GroupRecord(group_id=given_id))
    assert store.get_group(given_id) is not None
    store.delete_group(given_id)
    assert store.get_group(text) is None
    store.start_chord(ChordCounter(group_id=given_id, count=1))
    assert store.chord_part_returned(given_id, given_id).is_last
    assert store.get_chord(given_id) is not None
    store.finish_chord(given_id)
