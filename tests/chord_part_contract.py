"""The ``ChordPartStore`` contract, written once and run against every adapter.

Like ``tests/contract/``: a concrete test class subclasses ``ChordPartStoreContract`` and
provides a ``chord_parts`` fixture returning a fresh ``ChordParts``: the store under test and the
two (empty) repositories it was built from, through which the tests start chords and read what
``store_part`` left. Database adapters override ``contract_thread_finished`` to close a thread's
connections and run the concurrent test in a transactional test case.

The port's clause is that ``store_part(record, group_id)`` has exactly the effects of
``tasks.store(record)`` followed by ``chords.count_part(group_id, record.task_id)``, visible
together; the tests pin what that means for a chord: each header task counted once however
often it is reported, the count running down to zero with one last part, the result stored
whether or not it counted, and an unknown chord counting nothing.
"""

from __future__ import annotations

import attrs
import pytest

from django_celery_results.domain import states
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    ChordPartStore,
    TaskRepository,
)
from django_celery_results.domain.records import PartCount, TaskRecord
from tests.contract.support import ThreadedContract, assert_same_task, full_task, make_counter

__all__ = ["ChordPartStoreContract", "ChordParts"]


@attrs.frozen
class ChordParts:
    """A ``ChordPartStore`` with the repositories it was built from.

    Attributes:
        store: the store under test.
        tasks: the repository ``store`` keeps results in.
        chords: the repository ``store`` counts parts in.
    """

    store: ChordPartStore
    tasks: TaskRepository
    chords: ChordCounterRepository

    def report(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]:
        """``store.store_part(record, group_id)``: a header task of the chord reports."""
        return self.store.store_part(record, group_id)

    def start(self, group_id: str, count: int) -> None:
        """Start chord ``group_id`` with ``count`` header tasks to report."""
        self.chords.create(make_counter(group_id=group_id, sub_tasks="[]", count=count))

    def remaining(self, group_id: str) -> int | None:
        """The chord's stored count, or None when it has no counter."""
        counter = self.chords.get(group_id)
        return None if counter is None else counter.count


class ChordPartStoreContract(ThreadedContract):
    """The ``ChordPartStore`` contract (domain/ports.py); needs a ``chord_parts`` fixture."""

    def test_a_part_is_stored_and_counted(self, chord_parts: ChordParts) -> None:
        """A header task's result is stored as ``store`` would, and the chord counts it."""
        chord_parts.start("chord", 3)
        record = full_task("part-1")
        assert chord_parts.report(record, "chord") == (True, PartCount(2, counted=True))
        assert_same_task(chord_parts.tasks.get("part-1"), record)
        assert chord_parts.remaining("chord") == 2

    def test_counts_run_down_to_zero_with_one_last_part(self, chord_parts: ChordParts) -> None:
        """Three header tasks count 2, 1, 0; only the third is the last part."""
        chord_parts.start("chord", 3)
        answers = [chord_parts.report(full_task(f"t{n}"), "chord") for n in range(3)]
        assert [part.remaining for _, part in answers] == [2, 1, 0]
        assert [part.is_last for _, part in answers] == [False, False, True]
        assert all(written for written, _ in answers)
        assert chord_parts.remaining("chord") == 0

    def test_a_redelivered_header_task_counts_once(self, chord_parts: ChordParts) -> None:
        """The same task reported again counts nothing; its first SUCCESS stays stored."""
        chord_parts.start("chord", 2)
        first = full_task("t1", result='"first"')
        assert chord_parts.report(first, "chord") == (True, PartCount(1, counted=True))
        again = full_task("t1", result='"again"')
        assert chord_parts.report(again, "chord") == (False, PartCount(1, counted=False))
        assert_same_task(chord_parts.tasks.get("t1"), first)
        assert chord_parts.remaining("chord") == 1

    def test_a_redelivered_state_that_may_overwrite_is_written_not_counted(
        self, chord_parts: ChordParts
    ) -> None:
        """A FAILURE then a SUCCESS of one task: the SUCCESS is written, the task counted once."""
        chord_parts.start("chord", 2)
        failed = full_task("t1", status=states.FAILURE, result='"boom"')
        assert chord_parts.report(failed, "chord")[1].counted
        succeeded = full_task("t1", status=states.SUCCESS, result='"ok"')
        assert chord_parts.report(succeeded, "chord") == (True, PartCount(1, counted=False))
        assert_same_task(chord_parts.tasks.get("t1"), succeeded)

    def test_a_blocked_write_still_counts_a_new_part(self, chord_parts: ChordParts) -> None:
        """A state the stored one blocks is not written, but a task never counted is counted."""
        chord_parts.start("chord", 2)
        stored = full_task("t1", status=states.FAILURE, result='"boom"')
        chord_parts.tasks.store(stored)
        retried = full_task("t1", status=states.RETRY, result=None)
        assert chord_parts.report(retried, "chord") == (False, PartCount(1, counted=True))
        assert_same_task(chord_parts.tasks.get("t1"), stored)

    def test_a_part_after_the_end_is_stored_not_counted(self, chord_parts: ChordParts) -> None:
        """A report arriving once the count is at zero changes no count; its result is stored."""
        chord_parts.start("chord", 1)
        assert chord_parts.report(full_task("t1"), "chord")[1].is_last
        late = full_task("late")
        assert chord_parts.report(late, "chord") == (True, PartCount(0, counted=False))
        assert_same_task(chord_parts.tasks.get("late"), late)
        assert chord_parts.remaining("chord") == 0

    def test_an_unknown_chord_counts_nothing(self, chord_parts: ChordParts) -> None:
        """A chord with no counter: the result is stored, the part is not counted (None)."""
        record = full_task("orphan")
        assert chord_parts.report(record, "no-such-chord") == (True, PartCount(None, counted=False))
        assert_same_task(chord_parts.tasks.get("orphan"), record)
        assert chord_parts.chords.get("no-such-chord") is None

    def test_parts_are_counted_per_chord(self, chord_parts: ChordParts) -> None:
        """One task id counted in one chord still counts in another."""
        chord_parts.start("one", 2)
        chord_parts.start("two", 2)
        assert chord_parts.report(full_task("t1"), "one")[1].counted
        assert chord_parts.report(full_task("t1"), "two") == (False, PartCount(1, counted=True))
        assert (chord_parts.remaining("one"), chord_parts.remaining("two")) == (1, 1)

    def test_cleared_parts_are_still_not_counted_again(self, chord_parts: ChordParts) -> None:
        """After ``clear_parts`` the counter stays at zero: a late duplicate counts nothing."""
        chord_parts.start("chord", 1)
        assert chord_parts.report(full_task("t1"), "chord")[1].is_last
        chord_parts.chords.clear_parts("chord")
        assert chord_parts.report(full_task("t1"), "chord")[1] == PartCount(
            remaining=0, counted=False
        )

    def test_concurrent_duplicate_reports_count_once(self, chord_parts: ChordParts) -> None:
        """8 threads each report all 20 header tasks: 20 counted, exactly one last part."""
        if not getattr(chord_parts.chords, "atomic_decrement", False):
            pytest.skip(f"{type(chord_parts.chords).__name__} declares atomic_decrement = False")
        threads, tasks = 8, 20
        chord_parts.start("chord", tasks)

        def report_all() -> list[tuple[bool, PartCount]]:
            return [chord_parts.report(full_task(f"t{n}"), "chord") for n in range(tasks)]

        outcomes = [
            part for batch in self.run_concurrently(threads, report_all) for _, part in batch
        ]
        counted = sorted(p.remaining for p in outcomes if p.counted and p.remaining is not None)
        assert counted == list(range(tasks))
        assert sum(p.is_last for p in outcomes) == 1
        assert chord_parts.remaining("chord") == 0
        stored = chord_parts.tasks.get_many([f"t{n}" for n in range(tasks)])
        assert sorted(stored) == sorted(f"t{n}" for n in range(tasks))
