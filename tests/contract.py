"""The behaviour of each storage port, written once and run against every adapter.

Like Django's ``SessionTestsMixin``: a concrete test module subclasses a contract class and
provides its fixture (``task_repo``, ``group_repo`` or ``chord_repo``) returning a fresh, empty
repository. An adapter that cannot honour a clause overrides that test with a docstring saying
why; a capability an adapter lacks is declared on the adapter (``atomic_decrement``) and the
test skips with the reason.

Tests that start threads call ``contract_thread_finished`` at the end of each thread; database
adapters override it to close the thread's connection (and must run those tests in a
transactional test case, so the other threads see the rows).

The class names do not start with ``Test`` so pytest collects only the concrete subclasses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from itertools import product
from typing import Any, TypeVar

import attrs
import pytest

from django_celery_results.domain import states
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    GroupRepository,
    TaskRepository,
)
from django_celery_results.domain.records import (
    ChordCounter,
    FieldLimits,
    GroupRecord,
    PartCount,
    TaskRecord,
)

__all__ = [
    "ALL_STATES",
    "CELERY_STATES",
    "COUNTER_CREATED",
    "DAY",
    "LONG_TRACEBACK",
    "ONE_US",
    "PROGRESS",
    "T0",
    "UNICODE",
    "ChordCounterRepositoryContract",
    "GroupRepositoryContract",
    "TaskRepositoryContract",
    "ThreadedContract",
    "assert_aware",
    "assert_same_group",
    "assert_same_task",
    "full_group",
    "full_task",
    "make_counter",
]

#: An instant with microseconds, so a storage that truncates them fails the round trips.
T0 = datetime(2024, 5, 17, 12, 34, 56, 789012, tzinfo=timezone.utc)
ONE_US = timedelta(microseconds=1)

#: Every state Celery defines, written out by hand (``test_states`` checks them against Celery).
CELERY_STATES = (
    states.PENDING,
    states.RECEIVED,
    states.STARTED,
    states.RETRY,
    states.SUCCESS,
    states.FAILURE,
    states.REVOKED,
    states.REJECTED,
    states.IGNORED,
)
#: ... plus a custom progress state as ``update_state`` would store.
PROGRESS = "PROGRESS"
ALL_STATES = (*CELERY_STATES, PROGRESS)

#: Text that exercises 1-, 2-, 3- and 4-byte UTF-8 (the last needs utf8mb4 on MariaDB).
UNICODE = "naïve café / Ωμέγα / 中文字符 / 🎉🐍👩\u200d💻 / e\u0301"
#: A traceback of about 100 KB, far beyond any VARCHAR, with non-ASCII on every line.
LONG_TRACEBACK = "".join(
    f'  File "/srv/app/tâches.py", line {n}, in step_{n}\n    raise Ärger("💥 {n}")\n'
    for n in range(1600)
)

_T = TypeVar("_T")


def full_task(task_id: str = "task-1", status: str = states.SUCCESS, **changes: Any) -> TaskRecord:
    """A task record with every field set (dates included), changed by ``changes``."""
    record = TaskRecord(
        task_id=task_id,
        status=status,
        content_type="application/json",
        content_encoding="utf-8",
        result='{"answer": 42}',
        traceback=None,
        meta='{"children": []}',
        task_name="proj.tasks.add",
        task_args="[1, 2]",
        task_kwargs='{"z": 3}',
        worker="celery@host-1",
        periodic_task_name="every-minute",
        date_created=T0,
        date_started=T0 + ONE_US,
        date_done=T0 + 2 * ONE_US,
    )
    return attrs.evolve(record, **changes)


def full_group(group_id: str = "group-1", **changes: Any) -> GroupRecord:
    """A group record with every field set (dates included), changed by ``changes``."""
    record = GroupRecord(
        group_id=group_id,
        content_type="application/json",
        content_encoding="utf-8",
        result='[["group-1", null], [[["task-1", null], null], [["task-2", null], null]]]',
        date_created=T0,
        date_done=T0 + ONE_US,
    )
    return attrs.evolve(record, **changes)


def assert_aware(*values: datetime | None) -> None:
    """Fail unless every non-None datetime is timezone-aware."""
    for value in values:
        assert value is None or value.utcoffset() is not None, f"naive datetime {value!r}"


def assert_same_task(actual: TaskRecord | None, expected: TaskRecord) -> None:
    """Fail unless ``actual`` equals ``expected`` field by field, dates to the microsecond."""
    assert actual is not None, f"{expected.task_id!r} is not stored"
    assert_aware(actual.date_created, actual.date_started, actual.date_done)
    # Field by field first, so a failure names the field rather than dumping two records.
    for field in attrs.fields(TaskRecord):
        assert getattr(actual, field.name) == getattr(expected, field.name), field.name
    assert actual == expected


def assert_same_group(actual: GroupRecord | None, expected: GroupRecord) -> None:
    """Fail unless ``actual`` equals ``expected`` field by field, dates to the microsecond."""
    assert actual is not None, f"{expected.group_id!r} is not stored"
    assert_aware(actual.date_created, actual.date_done)
    for field in attrs.fields(GroupRecord):
        assert getattr(actual, field.name) == getattr(expected, field.name), field.name
    assert actual == expected


DAY = timedelta(days=1)

#: A fixed, microsecond-precise creation time for counters the chord contract creates.
COUNTER_CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def make_counter(**fields: Any) -> ChordCounter:
    """A ChordCounter dated ``COUNTER_CREATED`` unless the test says otherwise."""
    fields.setdefault("date_created", COUNTER_CREATED)
    return ChordCounter(**fields)


class ThreadedContract:
    """Runs a function on several threads at once; shared by the contracts that need it."""

    def contract_thread_finished(self) -> None:
        """Called at the end of every thread a contract test starts; adapters may override."""

    def run_concurrently(self, threads: int, work: Callable[[], _T]) -> list[_T]:
        """Run ``work`` on ``threads`` threads released together; return their results."""
        barrier = threading.Barrier(threads)

        def one() -> _T:
            try:
                barrier.wait(timeout=30)
                return work()
            finally:
                self.contract_thread_finished()

        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(one) for _ in range(threads)]
            # .result() re-raises a thread's exception here, in the test's thread.
            return [future.result(timeout=120) for future in futures]


class TaskRepositoryContract(ThreadedContract):
    """The ``TaskRepository`` contract (domain/ports.py); needs a ``task_repo`` fixture."""

    # -- get / store round trip -------------------------------------------------------------

    def test_get_unknown_id_is_none(self, task_repo: TaskRepository) -> None:
        """get() of an id never stored returns None."""
        assert task_repo.get("never-stored") is None

    def test_store_new_record_returns_true(self, task_repo: TaskRepository) -> None:
        """store() of an id not yet stored writes it and returns True."""
        assert task_repo.store(full_task()) is True

    def test_round_trip_every_field(self, task_repo: TaskRepository) -> None:
        """Every field of a stored record reads back equal, dates aware and to the microsecond."""
        record = full_task(traceback="Traceback (most recent call last):\n  boom\n")
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_round_trip_nullable_fields_as_none(self, task_repo: TaskRepository) -> None:
        """Optional fields stored as None read back as None, not as empty text."""
        record = full_task(
            result=None,
            traceback=None,
            meta=None,
            task_name=None,
            task_args=None,
            task_kwargs=None,
            worker=None,
            periodic_task_name=None,
            date_started=None,
        )
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_round_trip_empty_strings(self, task_repo: TaskRepository) -> None:
        """Empty text reads back as empty text, not as None."""
        record = full_task(content_type="", content_encoding="", result="", meta="")
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_round_trip_unicode_in_every_text_field(self, task_repo: TaskRepository) -> None:
        """Non-ASCII text, emoji and combining marks survive in every text field."""
        record = full_task(
            task_id=f"id-{UNICODE}",
            status=f"PRÖGRESS-{UNICODE}"[: task_repo.limits.status],
            content_type=f"application/x-{UNICODE}",
            content_encoding=f"enc-{UNICODE}",
            result=f'"{UNICODE}"',
            traceback=UNICODE,
            meta=f'{{"note": "{UNICODE}"}}',
            task_name=f"proj.tâches.{UNICODE}",
            task_args=f'["{UNICODE}"]',
            task_kwargs=f'{{"k": "{UNICODE}"}}',
            worker=f"celery@{UNICODE}",
            periodic_task_name=f"every-{UNICODE}",
        )
        task_repo.limits.check_task(record)
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_round_trip_long_text(self, task_repo: TaskRepository) -> None:
        """A 100 KB traceback and large result, meta and args are stored whole."""
        assert len(LONG_TRACEBACK.encode("utf-8")) > 100_000
        record = full_task(
            status=states.FAILURE,
            traceback=LONG_TRACEBACK,
            result='"' + "r" * 200_000 + '"',
            meta='"' + "m" * 50_000 + '"',
            task_args='["' + "a" * 50_000 + '"]',
            task_kwargs='{"k": "' + "é" * 50_000 + '"}',
        )
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_round_trip_values_at_declared_limits(self, task_repo: TaskRepository) -> None:
        """Values exactly as long as ``limits`` declares (multi-byte characters) are stored."""
        limits: FieldLimits = task_repo.limits

        def fill(limit: int) -> str:
            return ("é中🎉" * limit)[:limit]

        record = full_task(
            task_id=fill(limits.id),
            status=fill(limits.status),
            task_name=fill(limits.task_name),
            periodic_task_name=fill(limits.periodic_task_name),
            worker=fill(limits.worker),
            content_type=fill(limits.content_type),
            content_encoding=fill(limits.content_encoding),
        )
        limits.check_task(record)
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_dates_in_other_timezones_keep_their_instant(self, task_repo: TaskRepository) -> None:
        """Aware dates in any UTC offset read back as the same instant."""
        plus_five = timezone(timedelta(hours=5, minutes=30))
        record = full_task(
            date_created=T0.astimezone(plus_five),
            date_started=(T0 + ONE_US).astimezone(timezone(timedelta(hours=-7))),
            date_done=(T0 + 2 * ONE_US).astimezone(plus_five),
        )
        task_repo.store(record)
        assert_same_task(task_repo.get(record.task_id), record)

    def test_limits_are_positive(self, task_repo: TaskRepository) -> None:
        """``limits`` declares a positive width for every limited field."""
        limits = task_repo.limits
        assert isinstance(limits, FieldLimits)
        for field in attrs.fields(FieldLimits):
            assert getattr(limits, field.name) > 0, field.name

    def test_records_are_independent(self, task_repo: TaskRepository) -> None:
        """Storing one id does not change another."""
        first, second = full_task("task-a", result='"a"'), full_task("task-b", result='"b"')
        task_repo.store(first)
        task_repo.store(second)
        assert_same_task(task_repo.get("task-a"), first)
        assert_same_task(task_repo.get("task-b"), second)

    # -- the transition policy -----------------------------------------------------------------

    @pytest.mark.parametrize(("stored", "incoming"), list(product(ALL_STATES, ALL_STATES)))
    def test_store_follows_blocking_states(
        self, task_repo: TaskRepository, stored: str, incoming: str
    ) -> None:
        """store() writes unless the stored status is in blocking_states(incoming)."""
        old = full_task(status=stored, result='"old"', worker="old-worker")
        new = full_task(
            status=incoming,
            result='"new"',
            worker="new-worker",
            date_created=T0 + timedelta(seconds=5),
            date_started=T0 + timedelta(seconds=6),
            date_done=T0 + timedelta(seconds=7),
        )
        task_repo.store(old)
        should_write = stored not in states.blocking_states(incoming)

        assert task_repo.store(new) is should_write
        if should_write:
            assert_same_task(task_repo.get(new.task_id), attrs.evolve(new, date_created=T0))
        else:
            assert_same_task(task_repo.get(new.task_id), old)

    def test_first_success_is_final(self, task_repo: TaskRepository) -> None:
        """After SUCCESS, no later state (not even another SUCCESS) changes the record."""
        success = full_task(status=states.SUCCESS, result='"first"')
        task_repo.store(success)
        for status in ALL_STATES:
            late = full_task(status=status, result='"late"', date_done=T0 + timedelta(hours=1))
            assert task_repo.store(late) is False, status
        assert_same_task(task_repo.get(success.task_id), success)

    def test_failure_then_success_is_written(self, task_repo: TaskRepository) -> None:
        """A task retried after a lost worker can still finish with SUCCESS over FAILURE."""
        task_repo.store(full_task(status=states.FAILURE, result='"lost"'))
        assert task_repo.store(full_task(status=states.SUCCESS, result='"ok"')) is True
        stored = task_repo.get("task-1")
        assert stored is not None
        assert (stored.status, stored.result) == (states.SUCCESS, '"ok"')

    # -- what an update keeps and what it replaces -----------------------------------------

    def test_update_keeps_date_created(self, task_repo: TaskRepository) -> None:
        """An update keeps the stored date_created, whatever the new record says."""
        task_repo.store(full_task(status=states.STARTED, date_created=T0))
        task_repo.store(full_task(date_created=T0 + timedelta(days=3)))
        stored = task_repo.get("task-1")
        assert stored is not None
        assert stored.date_created == T0

    def test_update_keeps_date_started_when_new_is_none(self, task_repo: TaskRepository) -> None:
        """An update whose date_started is None keeps the stored date_started."""
        started = T0 + timedelta(seconds=1)
        task_repo.store(full_task(status=states.STARTED, date_started=started))
        task_repo.store(full_task(status=states.SUCCESS, date_started=None))
        stored = task_repo.get("task-1")
        assert stored is not None
        assert stored.date_started == started

    def test_update_replaces_date_started_when_given(self, task_repo: TaskRepository) -> None:
        """An update with a date_started replaces the stored one."""
        task_repo.store(full_task(status=states.STARTED, date_started=T0))
        restarted = T0 + timedelta(minutes=1, microseconds=7)
        task_repo.store(full_task(status=states.STARTED, date_started=restarted))
        stored = task_repo.get("task-1")
        assert stored is not None
        assert stored.date_started == restarted

    def test_update_without_any_date_started_stays_none(self, task_repo: TaskRepository) -> None:
        """An update keeps date_started None when neither record has one."""
        task_repo.store(full_task(status=states.PENDING, date_started=None))
        task_repo.store(full_task(status=states.SUCCESS, date_started=None))
        stored = task_repo.get("task-1")
        assert stored is not None
        assert stored.date_started is None

    def test_update_replaces_every_other_field(self, task_repo: TaskRepository) -> None:
        """An update takes every other field from the new record, None values included."""
        task_repo.store(full_task(status=states.STARTED, traceback="old traceback"))
        new = TaskRecord(
            task_id="task-1",
            status=states.FAILURE,
            content_type="application/x-python-serialize",
            content_encoding="binary",
            result="gASVAAAAAAAAAAA=",
            traceback="new traceback",
            meta=None,
            task_name=None,
            task_args=None,
            task_kwargs=None,
            worker=None,
            periodic_task_name=None,
            date_created=T0 + timedelta(days=1),
            date_started=None,
            date_done=T0 + timedelta(days=1, microseconds=3),
        )
        assert task_repo.store(new) is True
        assert_same_task(
            task_repo.get("task-1"),
            attrs.evolve(new, date_created=T0, date_started=T0 + ONE_US),
        )

    def test_concurrent_successes_exactly_one_wins(self, task_repo: TaskRepository) -> None:
        """store() is one atomic step: of 8 racing SUCCESS writes exactly one is written."""
        counter = iter(range(1000))
        lock = threading.Lock()

        def store_one() -> tuple[bool, str]:
            with lock:
                result = f'"writer-{next(counter)}"'
            return task_repo.store(full_task(status=states.SUCCESS, result=result)), result

        outcomes = self.run_concurrently(8, store_one)
        winners = [result for written, result in outcomes if written]
        assert len(winners) == 1, outcomes
        stored = task_repo.get("task-1")
        assert stored is not None
        assert stored.result == winners[0]

    # -- get_many ------------------------------------------------------------------------------

    def test_get_many_returns_only_stored_ids(self, task_repo: TaskRepository) -> None:
        """get_many() maps each stored id to its record and leaves unknown ids out."""
        a, b = full_task("a", result='"a"'), full_task("b", result='"b"')
        task_repo.store(a)
        task_repo.store(b)
        found = task_repo.get_many(["a", "missing", "b"])
        assert set(found) == {"a", "b"}
        assert_same_task(found["a"], a)
        assert_same_task(found["b"], b)

    def test_get_many_of_nothing_is_empty(self, task_repo: TaskRepository) -> None:
        """get_many() of no ids, or of unknown ids only, is an empty mapping."""
        assert dict(task_repo.get_many([])) == {}
        assert dict(task_repo.get_many(["x", "y"])) == {}

    def test_get_many_accepts_any_iterable_with_repeats(self, task_repo: TaskRepository) -> None:
        """get_many() takes a one-shot iterator and tolerates repeated ids."""
        task_repo.store(full_task("a"))
        ids: Iterator[str] = iter(["a", "a", "b", "a"])
        assert set(task_repo.get_many(ids)) == {"a"}

    def test_get_many_over_a_thousand_ids(self, task_repo: TaskRepository) -> None:
        """get_many() handles more ids than one SQL IN list or bind-parameter limit allows."""
        stored_ids = [f"task-{n:05d}" for n in range(1100)]
        for n, task_id in enumerate(stored_ids):
            task_repo.store(full_task(task_id, result=str(n)))
        wanted = stored_ids + [f"unknown-{n:05d}" for n in range(1000)]
        found = task_repo.get_many(wanted)
        assert set(found) == set(stored_ids)
        assert all(found[i].result == str(n) for n, i in enumerate(stored_ids))

    # -- delete --------------------------------------------------------------------------------

    def test_delete_removes_only_that_record(self, task_repo: TaskRepository) -> None:
        """delete() removes the record and leaves the others."""
        task_repo.store(full_task("a"))
        task_repo.store(full_task("b"))
        task_repo.delete("a")
        assert task_repo.get("a") is None
        assert task_repo.get("b") is not None

    def test_delete_unknown_id_is_fine(self, task_repo: TaskRepository) -> None:
        """delete() of an id never stored (or already deleted) raises nothing."""
        task_repo.delete("never-stored")
        task_repo.store(full_task("a"))
        task_repo.delete("a")
        task_repo.delete("a")
        assert task_repo.get("a") is None

    def test_store_after_delete_starts_afresh(self, task_repo: TaskRepository) -> None:
        """After delete(), a new store() is a first write: nothing blocks it, new date_created."""
        task_repo.store(full_task(status=states.SUCCESS))
        task_repo.delete("task-1")
        fresh = full_task(status=states.PENDING, date_created=T0 + timedelta(days=1))
        assert task_repo.store(fresh) is True
        assert_same_task(task_repo.get("task-1"), fresh)

    # -- delete_done_before ------------------------------------------------------------------

    def test_delete_done_before_boundary(self, task_repo: TaskRepository) -> None:
        """Records done strictly before the cutoff go; one done exactly at it stays."""
        cutoff = T0 + timedelta(days=1)
        done = {
            "long-ago": cutoff - timedelta(days=30),
            "just-before": cutoff - ONE_US,
            "at-cutoff": cutoff,
            "just-after": cutoff + ONE_US,
        }
        for task_id, date_done in done.items():
            task_repo.store(full_task(task_id, date_created=T0, date_done=date_done))

        assert task_repo.delete_done_before(cutoff, batch_size=100) == 2
        assert set(task_repo.get_many(done)) == {"at-cutoff", "just-after"}

    def test_delete_done_before_counts_across_batches(self, task_repo: TaskRepository) -> None:
        """With a small batch_size, every old record goes and the total count is returned."""
        cutoff = T0 + timedelta(days=1)
        old = [f"old-{n}" for n in range(7)]
        young = [f"young-{n}" for n in range(3)]
        for n, task_id in enumerate(old):
            task_repo.store(full_task(task_id, date_done=cutoff - timedelta(seconds=n + 1)))
        for task_id in young:
            task_repo.store(full_task(task_id, date_done=cutoff + timedelta(seconds=1)))

        assert task_repo.delete_done_before(cutoff, batch_size=2) == 7
        assert set(task_repo.get_many(old + young)) == set(young)

    @pytest.mark.parametrize("batch_size", [1, 3, 5, 1000])
    def test_delete_done_before_any_batch_size(
        self, task_repo: TaskRepository, batch_size: int
    ) -> None:
        """The count is exact whether the batch is smaller, equal or larger than the total."""
        cutoff = T0 + timedelta(days=1)
        for n in range(5):
            task_repo.store(full_task(f"old-{n}", date_done=cutoff - timedelta(minutes=n + 1)))
        assert task_repo.delete_done_before(cutoff, batch_size=batch_size) == 5
        assert dict(task_repo.get_many(f"old-{n}" for n in range(5))) == {}

    def test_delete_done_before_with_nothing_old(self, task_repo: TaskRepository) -> None:
        """With no record older than the cutoff, nothing goes and the count is 0."""
        task_repo.store(full_task("young", date_done=T0))
        assert task_repo.delete_done_before(T0, batch_size=10) == 0
        assert task_repo.delete_done_before(T0 - timedelta(days=1), batch_size=10) == 0
        assert task_repo.get("young") is not None

    def test_delete_done_before_ignores_state(self, task_repo: TaskRepository) -> None:
        """Expiry goes by date_done alone: unfinished old records go as well."""
        cutoff = T0 + timedelta(days=1)
        for status in ALL_STATES:
            task_repo.store(full_task(f"old-{status}", status=status, date_done=T0))
        assert task_repo.delete_done_before(cutoff, batch_size=4) == len(ALL_STATES)

    def test_delete_done_before_cutoff_in_other_timezone(self, task_repo: TaskRepository) -> None:
        """An aware cutoff in any UTC offset compares as the same instant."""
        cutoff = T0 + timedelta(days=1)
        task_repo.store(full_task("just-before", date_done=cutoff - ONE_US))
        task_repo.store(full_task("at-cutoff", date_done=cutoff))
        local_cutoff = cutoff.astimezone(timezone(timedelta(hours=-9, minutes=-30)))
        assert task_repo.delete_done_before(local_cutoff, batch_size=10) == 1
        assert set(task_repo.get_many(["just-before", "at-cutoff"])) == {"at-cutoff"}


class GroupRepositoryContract:
    """The ``GroupRepository`` contract (domain/ports.py); needs a ``group_repo`` fixture."""

    def test_get_unknown_id_is_none(self, group_repo: GroupRepository) -> None:
        """get() of a group never saved returns None."""
        assert group_repo.get("never-saved") is None

    def test_round_trip_every_field(self, group_repo: GroupRepository) -> None:
        """Every field of a saved group reads back equal, dates aware and to the microsecond."""
        record = full_group()
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_round_trip_unicode_and_long_result(self, group_repo: GroupRepository) -> None:
        """Non-ASCII ids and content, and a result of several hundred KB, are stored whole."""
        record = full_group(
            group_id=f"group-{UNICODE}",
            content_type=f"application/x-{UNICODE}",
            content_encoding=f"enc-{UNICODE}",
            result=f'"{UNICODE}' + "ü" * 300_000 + '"',
        )
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_round_trip_none_result(self, group_repo: GroupRepository) -> None:
        """A group saved with no result reads back with None."""
        record = full_group(result=None)
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_replace_keeps_date_created(self, group_repo: GroupRepository) -> None:
        """Saving an existing group replaces every field except date_created."""
        group_repo.save(full_group(date_created=T0))
        new = full_group(
            content_type="application/x-yaml",
            content_encoding="utf-8",
            result="- other",
            date_created=T0 + timedelta(days=2),
            date_done=T0 + timedelta(days=2, microseconds=1),
        )
        group_repo.save(new)
        assert_same_group(group_repo.get(new.group_id), attrs.evolve(new, date_created=T0))

    def test_groups_are_independent(self, group_repo: GroupRepository) -> None:
        """Saving one group does not change another."""
        a, b = full_group("group-a", result='"a"'), full_group("group-b", result='"b"')
        group_repo.save(a)
        group_repo.save(b)
        assert_same_group(group_repo.get("group-a"), a)
        assert_same_group(group_repo.get("group-b"), b)

    def test_delete_removes_only_that_group(self, group_repo: GroupRepository) -> None:
        """delete() removes the group and leaves the others."""
        group_repo.save(full_group("group-a"))
        group_repo.save(full_group("group-b"))
        group_repo.delete("group-a")
        assert group_repo.get("group-a") is None
        assert group_repo.get("group-b") is not None

    def test_delete_unknown_id_is_fine(self, group_repo: GroupRepository) -> None:
        """delete() of a group never saved (or already deleted) raises nothing."""
        group_repo.delete("never-saved")
        group_repo.save(full_group())
        group_repo.delete("group-1")
        group_repo.delete("group-1")
        assert group_repo.get("group-1") is None

    def test_save_after_delete_starts_afresh(self, group_repo: GroupRepository) -> None:
        """After delete(), a save() is a first write with its own date_created."""
        group_repo.save(full_group(date_created=T0))
        group_repo.delete("group-1")
        fresh = full_group(date_created=T0 + timedelta(days=1))
        group_repo.save(fresh)
        assert_same_group(group_repo.get("group-1"), fresh)

    def test_delete_done_before_boundary(self, group_repo: GroupRepository) -> None:
        """Groups done strictly before the cutoff go; one done exactly at it stays."""
        cutoff = T0 + timedelta(days=1)
        done = {
            "long-ago": cutoff - timedelta(days=30),
            "just-before": cutoff - ONE_US,
            "at-cutoff": cutoff,
            "just-after": cutoff + ONE_US,
        }
        for group_id, date_done in done.items():
            group_repo.save(full_group(group_id, date_created=T0, date_done=date_done))

        assert group_repo.delete_done_before(cutoff, batch_size=100) == 2
        remaining = {g for g in done if group_repo.get(g) is not None}
        assert remaining == {"at-cutoff", "just-after"}

    def test_delete_done_before_counts_across_batches(self, group_repo: GroupRepository) -> None:
        """With a small batch_size, every old group goes and the total count is returned."""
        cutoff = T0 + timedelta(days=1)
        old = [f"old-{n}" for n in range(7)]
        young = [f"young-{n}" for n in range(3)]
        for n, group_id in enumerate(old):
            group_repo.save(full_group(group_id, date_done=cutoff - timedelta(seconds=n + 1)))
        for group_id in young:
            group_repo.save(full_group(group_id, date_done=cutoff + timedelta(seconds=1)))

        assert group_repo.delete_done_before(cutoff, batch_size=2) == 7
        assert {g for g in old + young if group_repo.get(g) is not None} == set(young)

    def test_delete_done_before_with_nothing_old(self, group_repo: GroupRepository) -> None:
        """With no group older than the cutoff, nothing goes and the count is 0."""
        group_repo.save(full_group("young", date_done=T0))
        assert group_repo.delete_done_before(T0, batch_size=10) == 0
        assert group_repo.get("young") is not None


class ChordCounterRepositoryContract(ThreadedContract):
    """The ``ChordCounterRepository`` contract (domain/ports.py); needs a ``chord_repo`` fixture.

    The concurrency test runs only where the adapter declares ``atomic_decrement = True``.
    """

    def test_get_unknown_id_is_none(self, chord_repo: ChordCounterRepository) -> None:
        """get() of a chord never created returns None."""
        assert chord_repo.get("never-created") is None

    def test_decrement_unknown_id_is_none(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() of a chord with no counter returns None and creates nothing."""
        assert chord_repo.decrement("never-created") is None
        assert chord_repo.get("never-created") is None

    def test_create_round_trip(self, chord_repo: ChordCounterRepository) -> None:
        """A created counter reads back equal, with a long non-ASCII sub_tasks text."""
        counter = make_counter(
            group_id=f"chord-{UNICODE}",
            sub_tasks=f'[["{UNICODE}", null]]' + " " * 100_000,
            count=3,
        )
        chord_repo.create(counter)
        assert chord_repo.get(counter.group_id) == counter

    def test_create_replaces_existing(self, chord_repo: ChordCounterRepository) -> None:
        """create() with a known group id replaces its counter (count and sub_tasks)."""
        chord_repo.create(make_counter(group_id="chord", sub_tasks="old", count=2))
        chord_repo.decrement("chord")
        replacement = make_counter(group_id="chord", sub_tasks="new", count=5)
        chord_repo.create(replacement)
        assert chord_repo.get("chord") == replacement

    def test_decrement_counts_down_to_zero(self, chord_repo: ChordCounterRepository) -> None:
        """Each decrement() lowers the count by one and returns the count after it."""
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=3))
        assert [chord_repo.decrement("chord") for _ in range(3)] == [2, 1, 0]
        counter = chord_repo.get("chord")
        assert counter is not None
        assert (counter.count, counter.sub_tasks) == (0, "[]")

    def test_decrement_never_below_zero(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() at zero returns 0 and leaves the count at 0."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.decrement("chord") == 0
        assert chord_repo.decrement("chord") == 0
        assert chord_repo.decrement("chord") == 0
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0

    def test_decrement_from_zero(self, chord_repo: ChordCounterRepository) -> None:
        """A counter created at 0 stays at 0."""
        chord_repo.create(make_counter(group_id="chord", count=0))
        assert chord_repo.decrement("chord") == 0

    def test_counters_are_independent(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() of one chord leaves the others untouched."""
        chord_repo.create(make_counter(group_id="a", count=2))
        chord_repo.create(make_counter(group_id="b", count=2))
        assert chord_repo.decrement("a") == 1
        assert chord_repo.get("b") == make_counter(group_id="b", count=2)

    def test_delete(self, chord_repo: ChordCounterRepository) -> None:
        """delete() removes the counter; decrement() afterwards returns None."""
        chord_repo.create(make_counter(group_id="chord", count=2))
        chord_repo.delete("chord")
        assert chord_repo.get("chord") is None
        assert chord_repo.decrement("chord") is None

    def test_delete_unknown_id_is_fine(self, chord_repo: ChordCounterRepository) -> None:
        """delete() of a chord never created (or already deleted) raises nothing."""
        chord_repo.delete("never-created")
        chord_repo.create(make_counter(group_id="chord", count=1))
        chord_repo.delete("chord")
        chord_repo.delete("chord")

    def test_adapter_declares_atomic_decrement(self, chord_repo: ChordCounterRepository) -> None:
        """Every adapter declares the atomic_decrement capability as a bool."""
        assert isinstance(getattr(chord_repo, "atomic_decrement", None), bool)

    def test_concurrent_decrements_are_atomic(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads x 50 decrements end at 0, each of 0..n-1 returned exactly once."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        threads, per_thread = 8, 50
        total = threads * per_thread
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=total))

        def decrement_many() -> list[int | None]:
            return [chord_repo.decrement("chord") for _ in range(per_thread)]

        batches = self.run_concurrently(threads, decrement_many)
        returned = [-1 if value is None else value for batch in batches for value in batch]
        assert sorted(returned) == list(range(total))
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0
        assert chord_repo.decrement("chord") == 0

    # -- counting parts once -----------------------------------------------------------------

    def test_count_part_counts_each_task_once(self, chord_repo: ChordCounterRepository) -> None:
        """A task reported twice counts once; the chord waits for its real last task."""
        chord_repo.create(make_counter(group_id="chord", count=3))
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=2, counted=True)
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=2, counted=False)
        assert chord_repo.count_part("chord", "t2") == PartCount(remaining=1, counted=True)
        assert chord_repo.count_part("chord", "t2") == PartCount(remaining=1, counted=False)
        last = chord_repo.count_part("chord", "t3")
        assert last == PartCount(remaining=0, counted=True)
        assert last.is_last

    def test_count_part_of_unknown_chord(self, chord_repo: ChordCounterRepository) -> None:
        """A part of a chord with no counter is reported as unknown and counts nothing."""
        assert chord_repo.count_part("never-created", "t") == PartCount(None, counted=False)
        assert chord_repo.get("never-created") is None

    def test_count_part_after_zero(self, chord_repo: ChordCounterRepository) -> None:
        """Once the count is at zero, a new task id counts nothing and is never ``is_last``."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.count_part("chord", "t1").is_last
        late = chord_repo.count_part("chord", "t9")
        assert late == PartCount(remaining=0, counted=False)
        assert not late.is_last

    def test_clear_parts_keeps_the_counter(self, chord_repo: ChordCounterRepository) -> None:
        """clear_parts() keeps the counter at zero, so a late duplicate is still no last part."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.count_part("chord", "t1").is_last
        chord_repo.clear_parts("chord")
        chord_repo.clear_parts("never-created")
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=0, counted=False)

    def test_parts_are_per_chord(self, chord_repo: ChordCounterRepository) -> None:
        """The same task id counts separately in two chords."""
        chord_repo.create(make_counter(group_id="a", count=2))
        chord_repo.create(make_counter(group_id="b", count=2))
        assert chord_repo.count_part("a", "t").counted
        assert chord_repo.count_part("b", "t").counted

    def test_delete_forgets_parts(self, chord_repo: ChordCounterRepository) -> None:
        """After delete() and a new create(), a task counted before counts again."""
        chord_repo.create(make_counter(group_id="chord", count=2))
        assert chord_repo.count_part("chord", "t1").counted
        chord_repo.delete("chord")
        chord_repo.create(make_counter(group_id="chord", count=2))
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=1, counted=True)

    def test_delete_created_before(self, chord_repo: ChordCounterRepository) -> None:
        """Counters created before the cutoff go, in batches; one created at it stays."""
        for n in range(5):
            chord_repo.create(make_counter(group_id=f"old-{n}", count=1))
        chord_repo.create(
            make_counter(group_id="boundary", count=1, date_created=COUNTER_CREATED + DAY)
        )
        assert chord_repo.count_part("old-0", "t").counted
        assert chord_repo.delete_created_before(COUNTER_CREATED + DAY, batch_size=2) == 5
        assert chord_repo.get("old-0") is None
        assert chord_repo.get("boundary") is not None
        assert chord_repo.delete_created_before(COUNTER_CREATED + DAY, batch_size=2) == 0

    def test_concurrent_duplicate_reports_count_once(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """8 threads each report all 40 header tasks: 40 counted, exactly one last part."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        threads, tasks = 8, 40
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=tasks))

        def report_all() -> list[PartCount]:
            return [chord_repo.count_part("chord", f"t{n}") for n in range(tasks)]

        outcomes = [p for batch in self.run_concurrently(threads, report_all) for p in batch]
        counted = sorted(p.remaining for p in outcomes if p.counted and p.remaining is not None)
        assert counted == list(range(tasks))
        assert sum(p.is_last for p in outcomes) == 1
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0

    # -- the callback's claim, for recovery after a crash (issue 9) --------------------------

    def test_create_round_trips_the_callback(self, chord_repo: ChordCounterRepository) -> None:
        """The serialized callback, claim and done dates read back as created."""
        counter = make_counter(
            group_id="chord",
            count=2,
            callback='{"task": "tests.tsum", "options": {"task_id": "cb"}}',
        )
        chord_repo.create(counter)
        assert chord_repo.get("chord") == counter

    def test_claim_needs_a_finished_header(self, chord_repo: ChordCounterRepository) -> None:
        """No claim while header tasks are outstanding, nor for an unknown chord."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        later = COUNTER_CREATED + DAY
        assert not chord_repo.claim_callback("chord", later, later)
        assert not chord_repo.claim_callback("never-created", later, later)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed is None

    def test_claim_is_taken_once_until_stale(self, chord_repo: ChordCounterRepository) -> None:
        """The first claim wins; a second waits until the first is older than stale_before."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        first = COUNTER_CREATED + timedelta(minutes=1)
        assert chord_repo.claim_callback("chord", first, first)
        second = first + timedelta(seconds=30)
        assert not chord_repo.claim_callback("chord", second, first)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed == first
        # The claimer died: once its claim is older than stale_before, it is taken over.
        much_later = first + DAY
        assert chord_repo.claim_callback("chord", much_later, first + timedelta(seconds=1))
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed == much_later

    def test_a_repeated_claim_recognises_itself(self, chord_repo: ChordCounterRepository) -> None:
        """A claim retried with the same time (its reply was lost) wins again; others do not."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        first = COUNTER_CREATED + timedelta(minutes=1)
        assert chord_repo.claim_callback("chord", first, first - timedelta(minutes=5))
        assert chord_repo.claim_callback("chord", first, first - timedelta(minutes=5))
        other = first + timedelta(microseconds=1)
        assert not chord_repo.claim_callback("chord", other, first - timedelta(minutes=5))

    def test_done_chords_are_never_claimed_again(self, chord_repo: ChordCounterRepository) -> None:
        """After callback_done, no claim succeeds and recovery does not list the chord."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        now = COUNTER_CREATED + DAY
        assert chord_repo.claim_callback("chord", now, now)
        chord_repo.callback_done("chord", now)
        chord_repo.callback_done("never-created", now)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_done == now
        assert not chord_repo.claim_callback("chord", now + DAY, now + DAY)
        assert chord_repo.awaiting_callback(now + 2 * DAY, limit=10) == []

    def test_awaiting_callback_lists_only_stuck_chords(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """Finished, unsent, unclaimed or stale, with a callback: listed oldest first."""
        minute = timedelta(minutes=1)
        for name, count in [("running", 1), ("stuck-1", 1), ("stuck-2", 1), ("no-callback", 1)]:
            chord_repo.create(
                make_counter(
                    group_id=name,
                    count=count,
                    callback=None if name == "no-callback" else "cb",
                    date_created=COUNTER_CREATED + (minute if name == "stuck-1" else 0 * minute),
                )
            )
        for name in ("stuck-1", "stuck-2", "no-callback"):
            assert chord_repo.count_part(name, "t").is_last
        chord_repo.create(
            make_counter(
                group_id="young", count=0, callback="cb", date_created=COUNTER_CREATED + DAY
            )
        )
        stale_before = COUNTER_CREATED + 2 * minute
        due = chord_repo.awaiting_callback(stale_before, limit=10)
        assert [c.group_id for c in due] == ["stuck-2", "stuck-1"]
        assert [c.group_id for c in chord_repo.awaiting_callback(stale_before, limit=1)] == [
            "stuck-2"
        ]
        # A fresh claim hides a chord until it goes stale.
        assert chord_repo.claim_callback("stuck-2", stale_before, stale_before)
        assert [c.group_id for c in chord_repo.awaiting_callback(stale_before, limit=10)] == [
            "stuck-1"
        ]

    def test_concurrent_claims_have_one_winner(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads claim one finished chord at once, each at its own time: exactly one wins."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        now = COUNTER_CREATED + DAY
        times = iter(range(8))
        lock = threading.Lock()

        def claim() -> bool:
            # Each claimant its own time (a claim's identity), as each process's clock gives.
            with lock:
                claimed_at = now + timedelta(microseconds=next(times))
            return chord_repo.claim_callback("chord", claimed_at, now)

        wins = self.run_concurrently(8, claim)
        assert sum(wins) == 1
