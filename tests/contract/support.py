"""What the repository contracts share: full records, fixed instants, state lists, threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs

from django_celery_results.domain import states
from django_celery_results.domain.ports import TaskRepository
from django_celery_results.domain.records import ChordCounter, GroupRecord, TaskRecord

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
    "ThreadedContract",
    "assert_aware",
    "assert_same_group",
    "assert_same_task",
    "dates_around",
    "full_group",
    "full_task",
    "make_counter",
    "stored_task",
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


def dates_around(cutoff: datetime) -> dict[str, datetime]:
    """Four ids with their ``date_done``: long before, just before, at and just after ``cutoff``."""
    return {
        "long-ago": cutoff - timedelta(days=30),
        "just-before": cutoff - ONE_US,
        "at-cutoff": cutoff,
        "just-after": cutoff + ONE_US,
    }


def stored_task(repo: TaskRepository, task_id: str = "task-1") -> TaskRecord:
    """The record ``repo`` holds for ``task_id``; fails the test when there is none."""
    stored = repo.get(task_id)
    assert stored is not None, f"{task_id!r} is not stored"
    return stored


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
