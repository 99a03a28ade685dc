"""The ORM repositories' connections, keys and routing."""

from __future__ import annotations

import contextlib
import gc
import threading
import uuid
import weakref
from typing import Any, cast

import pytest
from django.db import connections

from django_celery_results.adapters.django_orm.models import TaskResult
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain.records import ChordCounter
from tests import settings as test_settings
from tests.contract import (
    T0,
    full_group,
    full_task,
)
from tests.integration.orm_support import (
    ALL,
    close_thread_connections,
    queries_on,
    transactional,
    warm_up,
)
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases=ALL)


# -- connections and keys --------------------------------------------------------------------------


@transactional
def test_bound_tables_do_not_keep_thread_connections_alive(db_alias: str) -> None:
    """A thread's connection, once closed and dropped, is freed with the tables bound to it."""
    wrappers: list[weakref.ReferenceType[Any]] = []

    def use_and_drop() -> None:
        try:
            assert DjangoTaskRepository(using=db_alias).get("nothing") is None
            wrappers.append(weakref.ref(connections[db_alias]))
        finally:
            close_thread_connections()

    for _ in range(5):
        thread = threading.Thread(target=use_and_drop)
        thread.start()
        thread.join()
    gc.collect()
    assert len(wrappers) == 5
    assert [ref() for ref in wrappers] == [None] * 5


def test_ids_that_are_not_str_are_looked_up_by_their_text(db_alias: str) -> None:
    """A UUID given as an id is sent as its text, as the model fields would send it."""
    task_id = uuid.uuid4()
    tasks = DjangoTaskRepository(using=db_alias)
    tasks.store(full_task(str(task_id)))
    found = tasks.get(cast(Any, task_id))
    assert found is not None
    assert found.task_id == str(task_id)
    tasks.delete(cast(Any, task_id))
    assert tasks.get(str(task_id)) is None


# -- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("routed_to", sorted(test_settings.DATABASES))
def test_using_none_follows_the_router(routed_to: str) -> None:
    """With using=None, writes and reads go where router.db_for_write/read send the models."""
    others = [alias for alias in test_settings.DATABASES if alias != routed_to]
    with route_results_to(routed_to):
        warm_up(routed_to)
        tasks = DjangoTaskRepository()
        with contextlib.ExitStack() as stack:
            elsewhere = [stack.enter_context(queries_on(alias)) for alias in others]
            here = stack.enter_context(queries_on(routed_to))
            tasks.store(full_task())
            DjangoGroupRepository().save(full_group())
            DjangoChordCounterRepository().create(ChordCounter(group_id="c", count=1))
            assert DjangoChordCounterRepository().decrement("c") == 0
            assert tasks.get("task-1") is not None
            assert tasks.delete_done_before(T0, 10) == 0
        # SQLite finds where an expiry batch ends with a SELECT before its DELETE.
        assert len(here) == (7 if connections[routed_to].vendor == "sqlite" else 6)
        assert [len(captured) for captured in elsewhere] == [0] * len(others)
    assert TaskResult.objects.using(routed_to).filter(task_id="task-1").exists()
    for alias in others:
        assert not TaskResult.objects.using(alias).filter(task_id="task-1").exists()


def test_router_is_asked_on_every_call() -> None:
    """One repository built with using=None follows the router as it changes between calls."""
    aliases = sorted(test_settings.DATABASES)
    tasks = DjangoTaskRepository()
    for alias in aliases:
        with route_results_to(alias):
            tasks.store(full_task(f"on-{alias}"))
    for alias in aliases:
        ids = set(TaskResult.objects.using(alias).values_list("task_id", flat=True))
        assert ids == {f"on-{alias}"}
