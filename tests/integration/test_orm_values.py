"""What the ORM repositories' rows hold: the transition policy, NUL, limits, time zones.

Also concurrent writers beyond the contract: the policy holds when they race.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connections
from django.db.models import Field, Model
from django.test.utils import override_settings

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import GroupResult, TaskResult
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import (
    InvalidRecordError,
)
from django_celery_results.domain.records import ChordCounter, GroupRecord, TaskRecord
from tests.contract import (
    T0,
    full_group,
    full_task,
)
from tests.integration.orm_support import (
    ALL,
    close_thread_connections,
    queries_on,
    result_store,
    stored_row,
    transactional,
)

pytestmark = pytest.mark.django_db(databases=ALL)


# -- the transition policy, as the table shows it --------------------------------------------------


def test_success_is_not_overwritten_by_started_or_failure(db_alias: str) -> None:
    """A stored SUCCESS row keeps its status, result and worker after late STARTED and FAILURE."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.SUCCESS, result='"done"', worker="w1"))
    assert repo.store(full_task(status=states.STARTED, result=None, worker="w2")) is False
    assert repo.store(full_task(status=states.FAILURE, result='"lost"', worker="w3")) is False
    assert stored_row(db_alias, "task-1") == {
        "status": states.SUCCESS,
        "result": '"done"',
        "worker": "w1",
    }


def test_failure_is_overwritten_by_success(db_alias: str) -> None:
    """A stored FAILURE row becomes SUCCESS when the retried task succeeds."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.FAILURE, result='"lost"', worker="w1"))
    assert repo.store(full_task(status=states.SUCCESS, result='"ok"', worker="w2")) is True
    assert stored_row(db_alias, "task-1") == {
        "status": states.SUCCESS,
        "result": '"ok"',
        "worker": "w2",
    }


def test_started_does_not_overwrite_failure(db_alias: str) -> None:
    """A redelivered task's STARTED does not hide the stored FAILURE."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.FAILURE, result='"boom"', worker="w1"))
    assert repo.store(full_task(status=states.STARTED, result=None, worker="w2")) is False
    assert stored_row(db_alias, "task-1")["status"] == states.FAILURE


def test_update_keeps_date_created_and_date_started_in_the_table(db_alias: str) -> None:
    """The stored date_created survives every update; date_started survives an update without."""
    repo = DjangoTaskRepository(using=db_alias)
    created, started = T0, T0 + timedelta(seconds=1)
    repo.store(full_task(status=states.STARTED, date_created=created, date_started=started))
    repo.store(
        full_task(
            status=states.SUCCESS,
            date_created=T0 + timedelta(days=1),
            date_started=None,
            date_done=T0 + timedelta(days=1),
        )
    )
    row = TaskResult.objects.using(db_alias).values("date_created", "date_started", "date_done")
    assert list(row) == [
        {"date_created": created, "date_started": started, "date_done": T0 + timedelta(days=1)}
    ]


def test_undated_records_are_dated_on_store(db_alias: str) -> None:
    """A record with no dates gets date_created and date_done at store time (NOT NULL columns)."""
    tasks = DjangoTaskRepository(using=db_alias)
    before = datetime.now(timezone.utc)
    tasks.store(TaskRecord(task_id="bare", status=states.PENDING))
    DjangoGroupRepository(using=db_alias).save(GroupRecord(group_id="bare"))
    stored = tasks.get("bare")
    group = DjangoGroupRepository(using=db_alias).get("bare")
    assert stored is not None
    assert group is not None
    for value in (stored.date_created, stored.date_done, group.date_created, group.date_done):
        assert value is not None
        assert value >= before - timedelta(seconds=1)


# -- NUL in text ----------------------------------------------------------------------------------


def _expected_text(alias: str, text: str) -> str:
    if connections[alias].vendor in DjangoTaskRepository.vendors_rejecting_nul:
        return text.replace("\x00", DjangoTaskRepository.nul_replacement)
    return text


def test_traceback_with_nul_is_stored_and_read_back(db_alias: str) -> None:
    """A traceback quoting a NUL byte is stored; it reads back with U+FFFD where NUL is refused."""
    repo = DjangoTaskRepository(using=db_alias)
    traceback = 'Traceback:\n  ValueError: bad header b"\x00\x01\x00"\n'
    repo.store(full_task(status=states.FAILURE, traceback=traceback, result='"a\x00b"'))
    stored = repo.get("task-1")
    assert stored is not None
    assert stored.traceback == _expected_text(db_alias, traceback)
    assert stored.result == _expected_text(db_alias, '"a\x00b"')


def test_nul_in_group_and_chord_text_is_stored(db_alias: str) -> None:
    """Group results and chord sub_tasks with NUL are stored too (replaced where refused)."""
    groups = DjangoGroupRepository(using=db_alias)
    chords = DjangoChordCounterRepository(using=db_alias)
    groups.save(full_group(result='"\x00"'))
    chords.create(ChordCounter(group_id="chord", sub_tasks='["\x00"]', count=1))
    group = groups.get("group-1")
    counter = chords.get("chord")
    assert group is not None
    assert counter is not None
    assert group.result == _expected_text(db_alias, '"\x00"')
    assert counter.sub_tasks == _expected_text(db_alias, '["\x00"]')


def test_only_postgresql_is_declared_nul_intolerant() -> None:
    """The capability is declared on the adapter class: PostgreSQL alone refuses NUL in text."""
    assert DjangoTaskRepository.vendors_rejecting_nul == frozenset({"postgresql"})
    assert DjangoTaskRepository.nul_replacement == "\ufffd"


# -- limits ---------------------------------------------------------------------------------------


def test_limits_come_from_the_model_fields() -> None:
    """The declared limits mirror the columns' max_length (so the id-length setting counts)."""
    limits = DjangoTaskRepository().limits

    def width(model: type[Model], name: str) -> int | None:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        return field.max_length

    assert limits.id == width(TaskResult, "task_id")
    assert limits.task_name == width(TaskResult, "task_name")
    assert limits.periodic_task_name == width(TaskResult, "periodic_task_name")
    assert limits.worker == width(TaskResult, "worker")
    assert limits.status == width(TaskResult, "status")
    assert limits.content_type == width(TaskResult, "content_type")
    assert limits.content_encoding == width(TaskResult, "content_encoding")
    assert limits.id == width(GroupResult, "group_id")
    assert limits.id == width(ChordCounterModel, "group_id")


@pytest.mark.parametrize(
    ("field", "width_of"),
    [
        ("task_name", lambda limits: limits.task_name),
        ("worker", lambda limits: limits.worker),
        ("periodic_task_name", lambda limits: limits.periodic_task_name),
        ("content_type", lambda limits: limits.content_type),
    ],
)
def test_oversize_value_is_refused_and_nothing_changes(
    db_alias: str, field: str, width_of: Any
) -> None:
    """A value longer than its column is refused by the use case; the stored row is untouched."""
    store = result_store(db_alias)
    store.store_task(full_task(status=states.STARTED))
    before = DjangoTaskRepository(using=db_alias).get("task-1")
    too_long = "x" * (width_of(DjangoTaskRepository().limits) + 1)
    with queries_on(db_alias) as captured, pytest.raises(InvalidRecordError, match=field):
        store.store_task(full_task(status=states.SUCCESS, **{field: too_long}))
    assert len(captured) == 0
    assert DjangoTaskRepository(using=db_alias).get("task-1") == before


def test_oversize_ids_are_refused_before_storage(db_alias: str) -> None:
    """Oversize task, group and chord ids are refused with InvalidRecordError, nothing stored."""
    store = result_store(db_alias)
    long_id = "i" * (DjangoTaskRepository().limits.id + 1)
    with queries_on(db_alias) as captured:
        with pytest.raises(InvalidRecordError, match="task_id"):
            store.store_task(full_task(long_id))
        with pytest.raises(InvalidRecordError, match="group_id"):
            store.save_group(full_group(long_id))
        with pytest.raises(InvalidRecordError, match="group_id"):
            store.start_chord(ChordCounter(group_id=long_id, count=1))
    assert len(captured) == 0


# -- concurrency beyond the contract --------------------------------------------------------------


@transactional
def test_concurrent_writers_respect_the_policy(db_alias: str) -> None:
    """Racing STARTED, FAILURE and SUCCESS writers of one task always end with SUCCESS stored."""
    repo = DjangoTaskRepository(using=db_alias)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(status: str) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(20):
                repo.store(full_task(status=status, result=f'"{status}-{n}"'))
        except BaseException as exc:  # reported in the test thread
            errors.append(exc)
        finally:
            close_thread_connections()

    threads = [
        threading.Thread(target=writer, args=(status,))
        for status in (states.STARTED, states.FAILURE, states.SUCCESS) * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert stored_row(db_alias, "task-1")["status"] == states.SUCCESS


# -- time zones -----------------------------------------------------------------------------------


def test_use_tz_false_stores_local_time_and_reads_aware(db_alias: str) -> None:
    """With USE_TZ = False, aware records are stored as naive local time and read back aware."""
    with override_settings(USE_TZ=False, TIME_ZONE="Europe/Paris"):
        repo = DjangoTaskRepository(using=db_alias)
        repo.store(full_task())
        stored = repo.get("task-1")
        naive = TaskResult.objects.using(db_alias).values_list("date_done", flat=True).get()
        assert repo.delete_done_before(T0 + timedelta(seconds=1), 10) == 1
    assert stored is not None
    assert stored.date_done == full_task().date_done
    assert naive == datetime(2024, 5, 17, 14, 34, 56, 789014)  # UTC+2 in May
