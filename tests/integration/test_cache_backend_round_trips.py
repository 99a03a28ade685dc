"""How many round trips CacheBackend makes to each cache, and how group joins wait.

Pins the Redis commands per state change and read, one round trip (memcached) or one query (the
database cache) for a join of 50 results, and ``join_native`` waiting for pending members and
timing out.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import states
from celery.result import AsyncResult, GroupResult
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_celery_results.backends import CacheBackend
from tests.integration.cache_backend_support import (
    NEEDS_MEMCACHED,
    NEEDS_REDIS,
    Request,
    backend_of,
    make_app,
    redis_commands,
)

# A fixture is found by its name in the test module; "as" marks the import as deliberate.
from tests.integration.cache_backend_support import cache_table as cache_table

# -- round trips ---------------------------------------------------------------------------


def store_group(backend: CacheBackend, size: int) -> GroupResult:
    """``size`` finished tasks (the last one failed) as a GroupResult."""
    app = backend.app
    members: list[AsyncResult[Any]] = []
    for index in range(size):
        task_id = str(uuid.uuid4())
        if index == size - 1:
            backend.mark_as_failure(task_id, KeyError("last"), request=Request())
        else:
            backend.mark_as_done(task_id, index, request=Request())
        members.append(AsyncResult(task_id, app=app, backend=backend))
    return GroupResult(str(uuid.uuid4()), members, app=app)


@NEEDS_REDIS
def test_redis_round_trips_per_operation() -> None:
    """Redis commands: SUCCESS 2, another state 2, a read 1, a join of 50 results 1."""
    backend = backend_of(make_app(cache_backend="redis"))
    task_id = str(uuid.uuid4())
    with redis_commands() as sent:
        backend.mark_as_started(task_id)
    assert sent == ["MGET", "SET"]
    with redis_commands() as sent:
        backend.mark_as_done(task_id, 1, request=Request())
    assert sent == ["SET", "SET"]  # SET NX on the final key, SET on the task key
    with redis_commands() as sent:
        assert AsyncResult(task_id, app=backend.app).state == states.SUCCESS
    assert sent == ["MGET"]
    group = store_group(backend, 50)
    with redis_commands() as sent:
        values = group.join_native(timeout=5, propagate=False)
    assert sent == ["MGET"]
    assert values[:3] == [0, 1, 2]
    assert isinstance(values[-1], KeyError)


@NEEDS_MEMCACHED
def test_memcached_join_is_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """memcached: joining 50 stored results is one get command."""
    from pymemcache.client.base import Client  # type: ignore[import-untyped]

    backend = backend_of(make_app(cache_backend="memcached"))
    group = store_group(backend, 50)
    fetches: list[bytes] = []
    real = Client._fetch_cmd

    def counting(self: Any, name: bytes, *args: Any, **kwargs: Any) -> Any:
        fetches.append(name)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(Client, "_fetch_cmd", counting)
    assert len(group.join_native(timeout=5, propagate=False)) == 50
    assert len(fetches) == 1


@pytest.mark.django_db(transaction=True)
def test_database_cache_join_is_one_query(cache_table: None) -> None:
    """The database cache: joining 50 stored results is one SELECT."""
    backend = backend_of(make_app(cache_backend="database"))
    group = store_group(backend, 50)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert len(group.join_native(timeout=5, propagate=False)) == 50
    assert len(queries.captured_queries) == 1


def test_join_waits_for_pending_results() -> None:
    """join_native polls until every member is ready, then returns them in order."""
    backend = backend_of(make_app(cache_backend="locmem"))
    group = store_group(backend, 3)
    late: AsyncResult[Any] = AsyncResult(str(uuid.uuid4()), app=backend.app, backend=backend)
    waiting = GroupResult(str(uuid.uuid4()), [*(group.results or []), late], app=backend.app)
    polls: list[int] = []

    def finish_late() -> None:
        polls.append(1)
        backend.mark_as_done(late.id, "late", request=Request())

    values = waiting.join_native(timeout=5, interval=0.01, propagate=False, on_interval=finish_late)
    assert values[-1] == "late"
    assert polls == [1]


def test_join_times_out() -> None:
    """join_native raises Celery's TimeoutError when a member never finishes."""
    backend = backend_of(make_app(cache_backend="locmem"))
    never = GroupResult("g", [AsyncResult(str(uuid.uuid4()), app=backend.app)], app=backend.app)
    with pytest.raises(backend.TimeoutError):
        never.join_native(timeout=0.05, interval=0.01)
