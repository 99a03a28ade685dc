"""The old managers' API over the ORM repositories, and records that never leak model instances."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from django.db import connections

from django_celery_results.adapters.django_orm.models import GroupResult, TaskResult
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.records import ChordCounter, GroupRecord, TaskRecord
from tests.contract import (
    T0,
    full_group,
    full_task,
)
from tests.integration.orm_support import ALL
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases=ALL)


# -- the managers -------------------------------------------------------------------------------


@pytest.fixture
def routed(db_alias: str) -> Iterator[str]:
    """Route the results models to ``db_alias`` for the managers (which use the routers)."""
    with route_results_to(db_alias):
        yield db_alias


def test_store_result_returns_the_stored_row(routed: str) -> None:
    """TaskResult.objects.store_result() stores one state and returns the saved instance."""
    row = TaskResult.objects.store_result(
        "application/json",
        "utf-8",
        "task-1",
        '{"x": 1}',
        states.SUCCESS,
        traceback=None,
        meta='{"children": []}',
        task_name="proj.add",
        task_args="[1]",
        task_kwargs="{}",
        worker="w1",
        periodic_task_name="nightly",
        date_started=T0,
        exception_retry_count=2,
    )
    assert isinstance(row, TaskResult)
    assert row.pk is not None
    assert (row.status, row.result, row.worker, row.date_started) == (
        states.SUCCESS,
        '{"x": 1}',
        "w1",
        T0,
    )
    assert row.date_done is not None
    assert row.date_created is not None
    assert TaskResult.objects.using(routed).count() == 1


def test_store_result_follows_the_transition_policy(routed: str) -> None:
    """A late STARTED through the manager does not overwrite SUCCESS; the stored row returns."""
    manager = TaskResult.objects
    manager.store_result("application/json", "utf-8", "t", '"ok"', states.SUCCESS)
    row = manager.store_result("application/json", "utf-8", "t", None, states.STARTED)
    assert (row.status, row.result) == (states.SUCCESS, '"ok"')


def test_store_result_accepts_bytes_and_an_explicit_alias(db_alias: str) -> None:
    """Binary payloads given as base64 bytes are stored as text; using= picks the database."""
    row = TaskResult.objects.store_result(
        "application/x-python-serialize", "binary", "t", b"gAR9lC4=", states.SUCCESS, using=db_alias
    )
    assert row.result == "gAR9lC4="
    assert TaskResult.objects.using(db_alias).get(task_id="t").result == "gAR9lC4="


def test_get_task_returns_stored_or_new(routed: str) -> None:
    """get_task() returns the stored row, or an unsaved PENDING one for an unknown id."""
    TaskResult.objects.store_result("application/json", "utf-8", "t", '"ok"', states.SUCCESS)
    assert TaskResult.objects.get_task("t").status == states.SUCCESS
    unknown = TaskResult.objects.get_task("unknown")
    assert (unknown.pk, unknown.task_id, unknown.status) == (None, "unknown", states.PENDING)


def test_store_group_result_and_get_group(routed: str) -> None:
    """store_group_result() upserts (date_created kept) and get_group() reads it back."""
    first = GroupResult.objects.store_group_result("application/json", "utf-8", "g", '"one"')
    second = GroupResult.objects.store_group_result("application/json", "utf-8", "g", '"two"')
    assert second.pk == first.pk
    assert second.result == '"two"'
    assert second.date_created == first.date_created
    assert GroupResult.objects.get_group("g").result == '"two"'
    assert GroupResult.objects.get_group("nope").pk is None


def test_managers_expire_in_batches(routed: str) -> None:
    """get_all_expired() lists rows older than expires; delete_expired() removes them."""
    for task_id in ("old-1", "old-2", "young"):
        TaskResult.objects.store_result("application/json", "utf-8", task_id, None, states.SUCCESS)
    GroupResult.objects.store_group_result("application/json", "utf-8", "old-g", None)
    long_ago = datetime.now(timezone.utc) - timedelta(days=3)
    TaskResult.objects.filter(task_id__startswith="old").update(date_done=long_ago)
    GroupResult.objects.filter(group_id="old-g").update(date_done=long_ago)

    expired = TaskResult.objects.get_all_expired(timedelta(days=1))
    assert sorted(expired.values_list("task_id", flat=True)) == ["old-1", "old-2"]
    assert list(GroupResult.objects.get_all_expired(86400).values_list("group_id", flat=True)) == [
        "old-g"
    ]
    assert TaskResult.objects.delete_expired(timedelta(days=1)) == 2
    assert GroupResult.objects.delete_expired(timedelta(days=1)) == 1
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["young"]
    assert not GroupResult.objects.exists()


def test_manager_connection_helpers(routed: str) -> None:
    """The old managers' connection helpers name the routed database."""
    assert TaskResult.objects.connection_for_write().alias == routed
    assert TaskResult.objects.connection_for_read().alias == routed
    assert TaskResult.objects.current_engine() == connections[routed].settings_dict["ENGINE"]


def test_records_never_leak_model_instances(db_alias: str) -> None:
    """The repositories hand out domain records, never model instances."""
    DjangoTaskRepository(using=db_alias).store(full_task())
    DjangoGroupRepository(using=db_alias).save(full_group())
    DjangoChordCounterRepository(using=db_alias).create(ChordCounter(group_id="c", count=1))
    assert type(DjangoTaskRepository(using=db_alias).get("task-1")) is TaskRecord
    found = DjangoTaskRepository(using=db_alias).get_many(["task-1"])
    assert [type(r) for r in found.values()] == [TaskRecord]
    assert type(DjangoGroupRepository(using=db_alias).get("group-1")) is GroupRecord
    assert type(DjangoChordCounterRepository(using=db_alias).get("c")) is ChordCounter
    assert attrs.has(TaskRecord)
