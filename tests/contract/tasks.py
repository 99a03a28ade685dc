"""The ``TaskRepository`` contract: round trips, the transition policy, reads, expiry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta, timezone
from itertools import product

import attrs
import pytest

from django_celery_results.domain import states
from django_celery_results.domain.ports import TaskRepository
from django_celery_results.domain.records import FieldLimits, TaskRecord
from tests.contract.support import (
    ALL_STATES,
    LONG_TRACEBACK,
    ONE_US,
    T0,
    UNICODE,
    ThreadedContract,
    assert_same_task,
    dates_around,
    full_task,
    stored_task,
)

__all__ = ["TaskRepositoryContract"]


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
        stored = stored_task(task_repo)
        assert (stored.status, stored.result) == (states.SUCCESS, '"ok"')

    # -- what an update keeps and what it replaces -----------------------------------------

    def test_update_keeps_date_created(self, task_repo: TaskRepository) -> None:
        """An update keeps the stored date_created, whatever the new record says."""
        task_repo.store(full_task(status=states.STARTED, date_created=T0))
        task_repo.store(full_task(date_created=T0 + timedelta(days=3)))
        stored = stored_task(task_repo)
        assert stored.date_created == T0

    def test_update_keeps_date_started_when_new_is_none(self, task_repo: TaskRepository) -> None:
        """An update whose date_started is None keeps the stored date_started."""
        started = T0 + timedelta(seconds=1)
        task_repo.store(full_task(status=states.STARTED, date_started=started))
        task_repo.store(full_task(status=states.SUCCESS, date_started=None))
        stored = stored_task(task_repo)
        assert stored.date_started == started

    def test_update_replaces_date_started_when_given(self, task_repo: TaskRepository) -> None:
        """An update with a date_started replaces the stored one."""
        task_repo.store(full_task(status=states.STARTED, date_started=T0))
        restarted = T0 + timedelta(minutes=1, microseconds=7)
        task_repo.store(full_task(status=states.STARTED, date_started=restarted))
        stored = stored_task(task_repo)
        assert stored.date_started == restarted

    def test_update_without_any_date_started_stays_none(self, task_repo: TaskRepository) -> None:
        """An update keeps date_started None when neither record has one."""
        task_repo.store(full_task(status=states.PENDING, date_started=None))
        task_repo.store(full_task(status=states.SUCCESS, date_started=None))
        stored = stored_task(task_repo)
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
        stored = stored_task(task_repo)
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
        done = dates_around(cutoff)
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
