"""How django-db counts a chord's header tasks (issue 3), on each database.

Pins the query counts of the native join and of a chord part (constant in the header's size), a
header task reported twice counting once (also from concurrent threads), and a header task's
result stored and counted in one step by ``mark_as_done``, including backends that override
Celery's hooks and MariaDB at REPEATABLE READ.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest
from celery import states, uuid
from celery.result import GroupResult
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import ChordPart, TaskResult
from django_celery_results.adapters.django_orm.repositories import DjangoTaskRepository
from django_celery_results.backends import DatabaseBackend
from tests.integration.chords_support import (
    POLL,
    db_backend,
    make_app,
    part_request,
    report,
    start_chord,
    store_successes,
)
from tests.integration.conftest import SentCallbacks
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: Statements that count one chord part, by vendor: PostgreSQL's is one statement (the
#: part's INSERT in a CTE that the counter's UPDATE depends on); SQLite and MariaDB send the
#: same INSERT and UPDATE in a short transaction (BEGIN [IMMEDIATE] ... COMMIT).
PART_STATEMENTS = {"postgresql": 1, "sqlite": 4, "mysql": 4}


def chunk_size(alias: str) -> int:
    """Ids per ``SELECT`` of ``get_many`` on ``alias`` (bounded by the parameter limit)."""
    size = DjangoTaskRepository.get_many_chunk_size
    max_params = connections[alias].features.max_query_params
    return min(size, max_params) if max_params else size


@pytest.fixture
def backend(db_alias: str) -> Iterator[DatabaseBackend]:
    """A fresh backend whose results are routed to ``db_alias``."""
    with route_results_to(db_alias):
        yield db_backend(make_app())


# -- 1. query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 500, 1200])
def test_join_native_reads_one_query_per_chunk(db_alias: str, size: int) -> None:
    """join_native of N stored results takes ceil(N / chunk) queries and returns them in order."""
    with route_results_to(db_alias):
        values = {uuid(): i for i in range(size)}
        store_successes(db_backend(make_app()), db_alias, values)
        reader = make_app()  # a backend with an empty result cache
        header = GroupResult(uuid(), [reader.AsyncResult(t) for t in values], app=reader)
        with CaptureQueriesContext(connections[db_alias]) as queries:
            joined = header.join_native(timeout=10, interval=POLL)
    assert joined == list(range(size))
    assert len(queries) == math.ceil(size / chunk_size(db_alias))


def test_chord_part_statements_do_not_grow_with_the_header(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Counting one (not last) header task takes the same statements for 10 and 1000 tasks."""
    statements: dict[int, int] = {}
    for size in (10, 1000):
        group_id, task_ids, callback = start_chord(backend, size)
        backend.store_result(task_ids[0], 0, states.SUCCESS)
        request = part_request(group_id, task_ids[0], callback)
        with CaptureQueriesContext(connections[db_alias]) as queries:
            backend.on_chord_part_return(request, states.SUCCESS, 0)
        statements[size] = len(queries)
    assert statements[10] == statements[1000]
    assert statements[10] == PART_STATEMENTS[connections[db_alias].vendor]
    assert sent_callbacks.sent == []


def test_last_chord_part_adds_one_query_per_chunk_of_the_header(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """The last header task's statements are a constant plus ceil(N / chunk) for the join."""
    overhead: dict[int, int] = {}
    for size in (10, 1000, 1200):
        group_id, task_ids, callback = start_chord(backend, size)
        store_successes(backend, db_alias, {t: i for i, t in enumerate(task_ids)})
        for task_id in task_ids[:-1]:
            backend.on_chord_part_return(
                part_request(group_id, task_id, callback), states.SUCCESS, None
            )
        assert sent_callbacks.sent == []
        last = part_request(group_id, task_ids[-1], callback)
        with CaptureQueriesContext(connections[db_alias]) as queries:
            backend.on_chord_part_return(last, states.SUCCESS, size - 1)
        overhead[size] = len(queries) - math.ceil(size / chunk_size(db_alias))
        assert sent_callbacks.sent == [(callback.id, "tests.tsum", (list(range(size)),))]
        sent_callbacks.sent.clear()
    assert overhead[10] == overhead[1000] == overhead[1200], overhead
    # Counting the part, then the claim of the callback (one UPDATE, for chord recovery), one
    # read of the counter (the header's ids), the record that it was sent (one UPDATE) and
    # one DELETE of the counted parts.
    assert overhead[10] == PART_STATEMENTS[connections[db_alias].vendor] + 4


# -- 2. duplicate completion ----------------------------------------------------------------------


def test_duplicate_part_does_not_end_the_chord_early(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A header task reported twice counts once: the callback waits for the real last task."""
    group_id, (t1, t2, t3), callback = start_chord(backend, 3)
    store_successes(backend, db_alias, {t1: 1, t2: 2})
    report(backend, group_id, t1, callback)
    report(backend, group_id, t1, callback)
    report(backend, group_id, t2, callback)
    assert sent_callbacks.sent == []

    backend.store_result(t3, 3, states.SUCCESS)
    report(backend, group_id, t3, callback)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([1, 2, 3],))]

    report(backend, group_id, t3, callback)
    report(backend, group_id, t1, callback)
    assert len(sent_callbacks.sent) == 1
    # Nothing was stored for the callback: no ChordError for a late duplicate.
    assert not TaskResult.objects.using(db_alias).filter(task_id=callback.id).exists()


def test_concurrent_duplicate_reports_send_the_callback_once(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """6 threads each report all 40 header tasks at once: one callback, with every value."""
    group_id, task_ids, callback = start_chord(backend, 40)
    store_successes(backend, db_alias, {t: i for i, t in enumerate(task_ids)})
    start = threading.Barrier(6)

    def report_all() -> None:
        try:
            start.wait()
            for task_id in task_ids:
                backend.on_chord_part_return(
                    part_request(group_id, task_id, callback), states.SUCCESS, None
                )
        finally:
            # This thread's own connections; left open, the test database cannot be dropped.
            for connection in connections.all(initialized_only=True):
                connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        for future in [pool.submit(report_all) for _ in range(6)]:
            future.result()
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", (list(range(40)),))]
    assert not TaskResult.objects.using(db_alias).filter(task_id=callback.id).exists()


# -- 2b. a header task's result and its count in one step (mark_as_done) -------------------------

#: Statements of ``mark_as_done`` for a header task that is not the last: its result and its
#: count together (ChordPartStore): PostgreSQL one statement, SQLite and MariaDB one
#: transaction (BEGIN, the result's upsert, the part's insert, the decrement, COMMIT).
DONE_PART_STATEMENTS = {"postgresql": 1, "sqlite": 5, "mysql": 5}


def test_header_task_success_is_stored_and_counted_in_one_step(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """mark_as_done of a header task stores its result and counts it with one commit."""
    group_id, task_ids, callback = start_chord(backend, 3)
    backend.get_task_meta(task_ids[0], cache=False)  # the connection's first use, not counted
    with CaptureQueriesContext(connections[db_alias]) as queries:
        backend.mark_as_done(task_ids[0], 10, request=part_request(group_id, task_ids[0], callback))
    assert len(queries) == DONE_PART_STATEMENTS[connections[db_alias].vendor], [
        q["sql"][:60] for q in queries
    ]
    assert backend.get_task_meta(task_ids[0], cache=False)["result"] == 10
    counter = ChordCounterModel.objects.using(db_alias).get(group_id=group_id)
    assert counter.count == 2
    assert sent_callbacks.sent == []


def test_mark_as_done_sends_the_callback_once_with_every_result(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """Each header task done once, one of them twice: one callback, with every value in order."""
    group_id, task_ids, callback = start_chord(backend, 4)
    order = [task_ids[2], task_ids[0], task_ids[0], task_ids[3], task_ids[1], task_ids[1]]
    for task_id in order:
        value = task_ids.index(task_id) * 10
        backend.mark_as_done(task_id, value, request=part_request(group_id, task_id, callback))
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([0, 10, 20, 30],))]
    assert not ChordPart.objects.using(db_alias).filter(group_id=group_id).exists()


def test_ignored_result_is_counted_but_not_stored(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A header task with ignore_result is counted (Celery's order), its result not stored."""
    group_id, (t1,), callback = start_chord(backend, 1)
    request = part_request(group_id, t1, callback)
    request.ignore_result = True
    backend.store_result(t1, 5, states.SUCCESS)  # what the join will read
    backend.mark_as_done(t1, 99, request=request)
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([5],))]


def test_mark_as_done_for_another_task_id_counts_the_request(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """A result stored under another id than the request's is stored, and the request counted."""
    group_id, (t1,), callback = start_chord(backend, 1)
    other = uuid()
    backend.store_result(t1, 7, states.SUCCESS)
    backend.mark_as_done(other, 1, request=part_request(group_id, t1, callback))
    assert backend.get_task_meta(other, cache=False)["result"] == 1
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([7],))]


def test_parts_under_repeatable_read_do_not_deadlock(
    backend: DatabaseBackend, db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """MariaDB at REPEATABLE READ: parts done by 4 threads at once count without a deadlock.

    Under REPEATABLE READ, InnoDB locks the rows an INSERT ... SELECT reads; a part insert
    that read the counter's row would hold a shared lock that the next part's decrement has
    to wait for, in both directions. Django's default is READ COMMITTED; this is the other.
    """
    if connections[db_alias].vendor != "mysql":
        pytest.skip("InnoDB's REPEATABLE READ row locks")
    group_id, task_ids, callback = start_chord(backend, 40)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def report(ids: list[str]) -> None:
        try:
            with connections[db_alias].cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            start.wait()
            for task_id in ids:
                request = part_request(group_id, task_id, callback)
                backend.mark_as_done(task_id, task_ids.index(task_id), request=request)
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(report, task_ids[i::4]) for i in range(4)]:
            future.result()
    assert errors == []
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", (list(range(40)),))]


class OwnPartReturn(DatabaseBackend):
    """A project's backend that overrides on_chord_part_return (and records the calls)."""

    calls: ClassVar[list[str]] = []

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """Record the call, then count as usual."""
        self.calls.append(request.id)
        super().on_chord_part_return(request, state, result, **kwargs)


class NarrowStore(DatabaseBackend):
    """A project's backend that overrides _store_result (so Celery's two steps run)."""

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        using: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Store the result only, passing no unknown keywords on."""
        return super()._store_result(task_id, result, state, traceback, request, using)


@pytest.mark.parametrize("backend_class", [OwnPartReturn, NarrowStore])
def test_subclasses_keep_celerys_two_steps(
    db_alias: str, sent_callbacks: SentCallbacks, backend_class: type[DatabaseBackend]
) -> None:
    """An override of on_chord_part_return still runs; a narrow _store_result still counts."""
    OwnPartReturn.calls.clear()
    with route_results_to(db_alias):
        app_ = make_app()
        custom = backend_class(app=app_)
        group_id, (t1, t2), callback = start_chord(custom, 2)
        for value, task_id in enumerate((t1, t2)):
            custom.mark_as_done(task_id, value, request=part_request(group_id, task_id, callback))
        assert custom.get_task_meta(t2, cache=False)["result"] == 1
    assert sent_callbacks.sent == [(callback.id, "tests.tsum", ([0, 1],))]
    if backend_class is OwnPartReturn:
        assert OwnPartReturn.calls == [t1, t2]
