"""A real Celery worker (threads, in-memory broker) storing through django-db on each database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import chain, chord, group
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult, GroupResult

from django_celery_results.models import GroupResult as GroupResultModel
from django_celery_results.models import TaskResult
from tests.celery_app import add, app, fail, flaky, tsum
from tests.routers import route_results_to

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases="__all__", transaction=True)]

TIMEOUT = 30


@pytest.fixture
def worker(db_alias: str) -> Iterator[Any]:
    """A worker whose results go to ``db_alias`` (through the router), with a fresh backend."""
    with (
        route_results_to(db_alias),
        start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10
        ) as running,
    ):
        yield running


def test_successful_task_is_stored(worker: Any, db_alias: str) -> None:
    """A task's SUCCESS, result and extended fields land in the routed database's row."""
    result = add.delay(2, 3)
    assert result.get(timeout=TIMEOUT) == 5
    row = TaskResult.objects.using(db_alias).get(task_id=result.id)
    assert row.status == "SUCCESS"
    assert row.task_name == "tests.add"
    assert row.worker
    assert row.date_started is not None
    assert row.date_done is not None
    fresh: AsyncResult[Any] = AsyncResult(result.id, app=app)
    assert fresh.name == "tests.add"
    assert fresh.date_done is not None
    # result_extended stores argsrepr, the text the sender chose to show.
    assert fresh.args == "(2, 3)"  # type: ignore[comparison-overlap]


def test_failing_task_stores_exception_and_traceback(worker: Any, db_alias: str) -> None:
    """A failure is stored with its exception (re-raised by get) and its traceback."""
    result = fail.delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=TIMEOUT)
    row = TaskResult.objects.using(db_alias).get(task_id=result.id)
    assert row.status == "FAILURE"
    assert row.traceback
    assert "ValueError: boom" in row.traceback
    assert AsyncResult(result.id, app=app).traceback == row.traceback


def test_retried_task_ends_in_success(worker: Any, db_alias: str) -> None:
    """A task that retries twice ends with SUCCESS and its final result."""
    result = flaky.delay(f"retry-{db_alias}", 2)
    assert result.get(timeout=TIMEOUT) == "done after 2 retries"
    assert TaskResult.objects.using(db_alias).get(task_id=result.id).status == "SUCCESS"


def test_chain_stores_every_link(worker: Any, db_alias: str) -> None:
    """Each task of a chain is stored and the last one holds the chain's result."""
    result = chain(add.s(1, 2), add.s(3), add.s(4)).delay()
    assert result.get(timeout=TIMEOUT) == 10
    parent = result.parent
    assert isinstance(parent, AsyncResult)
    assert parent.get(timeout=TIMEOUT) == 6
    assert TaskResult.objects.using(db_alias).filter(status="SUCCESS").count() == 3


def test_group_is_saved_and_restored(worker: Any, db_alias: str) -> None:
    """A saved group restores from the database with every member's result."""
    result: Any = group(add.s(i, i) for i in range(5)).delay()
    assert isinstance(result, GroupResult)
    assert result.id
    result.save()
    assert result.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8]
    assert GroupResultModel.objects.using(db_alias).filter(group_id=result.id).exists()
    restored = GroupResult.restore(result.id, app=app)
    assert restored is not None
    assert [r.id for r in restored.results or []] == [r.id for r in result.results or []]
    assert restored.join(timeout=TIMEOUT) == [0, 2, 4, 6, 8]


def test_chord_fires_callback_once(worker: Any, db_alias: str) -> None:
    """A chord's callback runs once, with every header result."""
    result = chord(add.s(i, 1) for i in range(10))(tsum.s())
    assert result.get(timeout=TIMEOUT) == sum(range(1, 11))
    assert TaskResult.objects.using(db_alias).filter(task_name="tests.tsum").count() == 1
