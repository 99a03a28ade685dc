"""The ORM's ChordPartStore: a chord part's result and its count in one step."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from django.db import connections
from django.db.utils import DatabaseError

from django_celery_results.adapters.django_orm.chord_parts import ChordPartTable
from django_celery_results.adapters.django_orm.models import ChordPart
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoChordPartStore,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import (
    PermanentStorageError,
)
from django_celery_results.domain.records import ChordCounter, PartCount
from tests.contract import (
    full_task,
)
from tests.integration.orm_support import ALL, queries_on, transactional, warm_up
from tests.portable_sql import (
    PortableChordCounterRepository,
    PortableTaskRepository,
    portable_alias,
)

pytestmark = pytest.mark.django_db(databases=ALL)


# -- a chord part's result and its count in one step (ChordPartStore) ------------------------------

#: Statements of ``store_part`` by vendor: PostgreSQL sends one (the result's upsert, the part's
#: insert and the decrement as CTEs); SQLite and MariaDB send the three in one transaction,
#: which Django's query log shows as BEGIN and COMMIT around them: one commit either way.
STORE_PART_STATEMENTS = {"postgresql": 1, "sqlite": 5, "mysql": 5}


def part_store(alias: str) -> DjangoChordPartStore:
    """The ORM's ChordPartStore over the task and chord repositories of ``alias``."""
    return DjangoChordPartStore(
        DjangoTaskRepository(using=alias), DjangoChordCounterRepository(using=alias)
    )


def test_store_part_does_what_store_then_count_part_do(db_alias: str) -> None:
    """Step by step, store_part answers and stores exactly as store + count_part would."""
    combined = part_store(db_alias)
    tasks, chords = combined.tasks, combined.chords
    for group_id in ("one-step", "two-steps"):
        chords.create(ChordCounter(group_id=group_id, count=3))
    script = [
        ("t1", states.STARTED),
        ("t1", states.SUCCESS),
        ("t1", states.SUCCESS),  # a redelivered header task
        ("t2", states.FAILURE),
        ("t2", states.RETRY),  # blocked: a final state stays
        ("t3", states.SUCCESS),  # the last part
        ("t3", states.SUCCESS),  # a duplicate after the end
    ]
    answers: list[tuple[bool, PartCount]] = []
    for index, (task_id, status) in enumerate(script):
        record = full_task(f"1-{task_id}", status=status, result=f'"{index}"')
        one = combined.store_part(record, "one-step")
        two_record = attrs.evolve(record, task_id=f"2-{task_id}")
        two = (tasks.store(two_record), chords.count_part("two-steps", two_record.task_id))
        assert one == two, (index, task_id, status)
        answers.append(one)
    assert [part.is_last for _, part in answers] == [False, False, False, False, False, True, False]
    for task_id, _ in script:
        one_step, two_steps = tasks.get(f"1-{task_id}"), tasks.get(f"2-{task_id}")
        assert one_step is not None
        assert two_steps is not None
        assert attrs.evolve(one_step, task_id="x") == attrs.evolve(two_steps, task_id="x")
    unknown = combined.store_part(full_task("orphan"), "no-such-chord")
    assert unknown == (True, PartCount(remaining=None, counted=False))
    assert tasks.get("orphan") is not None
    # Reports that counted nothing (duplicates, a finished or unknown chord) leave no part rows.
    counted = ChordPart.objects.using(db_alias).values_list("group_id", "task_id")
    assert sorted(counted) == sorted(
        [
            (group, f"{n}-{t}")
            for n, group in ((1, "one-step"), (2, "two-steps"))
            for t in ["t1", "t2", "t3"]
        ]
    )


@transactional
def test_store_part_statements(db_alias: str) -> None:
    """A header task's result and its count: one statement on PostgreSQL, one transaction else."""
    combined = part_store(db_alias)
    warm_up(db_alias)
    combined.chords.create(ChordCounter(group_id="chord", count=2))
    with queries_on(db_alias) as queries:
        answer = combined.store_part(full_task("part-1"), "chord")
    assert answer == (True, PartCount(remaining=1, counted=True))
    assert len(queries) == STORE_PART_STATEMENTS[connections[db_alias].vendor], [
        q["sql"][:60] for q in queries
    ]


@transactional
def test_store_part_keeps_nothing_when_counting_fails(
    db_alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while counting rolls the stored result back too: both or neither."""
    combined = part_store(db_alias)
    combined.chords.create(ChordCounter(group_id="chord", count=2))
    if connections[db_alias].vendor == "postgresql":
        # One statement: a date PostgreSQL cannot read fails it, result upsert included.
        monkeypatch.setattr(
            ChordPartTable, "params", lambda self, connection, g, t: [g, t, "not a date"]
        )
    else:

        def fail(*args: Any) -> int:
            raise DatabaseError("counting failed")

        monkeypatch.setattr(DjangoChordCounterRepository, "decrement_on", fail)
    with pytest.raises(PermanentStorageError):
        combined.store_part(full_task("part-1"), "chord")
    assert combined.tasks.get("part-1") is None
    counter = combined.chords.get("chord")
    assert counter is not None
    assert counter.count == 2
    monkeypatch.undo()
    assert combined.store_part(full_task("part-1"), "chord") == (
        True,
        PartCount(remaining=1, counted=True),
    )


def test_store_part_runs_two_steps_on_the_portable_path(db_alias: str) -> None:
    """Without an upsert dialect, store_part stores then counts, as the use case would."""
    alias = portable_alias(db_alias)
    combined = DjangoChordPartStore(
        PortableTaskRepository(using=alias), PortableChordCounterRepository(using=alias)
    )
    combined.chords.create(ChordCounter(group_id="chord", count=1))
    assert combined.store_part(full_task("part-1"), "chord") == (
        True,
        PartCount(remaining=0, counted=True),
    )
    assert combined.tasks.get("part-1") is not None
