"""Chords and group joins on django-db (issue 3), on each database.

Query counts of the native join and of a chord part; a header task reported twice counts once;
a chord that cannot complete fails its callback with a ChordError; a chord sent inside a
transaction (or a view under ``ATOMIC_REQUESTS``) fires; nested canvas; cleanup of counters.
"""

from __future__ import annotations

import math
import threading
import types
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from celery import Celery, chain, chord, group, signals, states, uuid
from celery.app.task import Context
from celery.canvas import Signature
from celery.contrib.testing.worker import start_worker
from celery.exceptions import ChordError
from celery.result import AsyncResult, GroupResult
from django.db import connections, transaction
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import path

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import ChordPart, TaskResult
from django_celery_results.adapters.django_orm.repositories import DjangoTaskRepository
from django_celery_results.backends import DatabaseBackend
from tests.celery_app import add, app, fail, tsum
from tests.integration.conftest import SentCallbacks
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: Seconds a test waits for a worker's result before failing.
TIMEOUT = 30
#: Seconds to wait for a ChordError that the header task stores as it finishes.
ERROR_TIMEOUT = 10
#: Seconds between polls of a result (the default 0.5 s only slows the tests down).
POLL = 0.05
#: Statements that count one chord part, by vendor: PostgreSQL's is one statement (the
#: part's INSERT in a CTE that the counter's UPDATE depends on); SQLite and MariaDB send the
#: same INSERT and UPDATE in a short transaction (BEGIN [IMMEDIATE] ... COMMIT).
PART_STATEMENTS = {"postgresql": 1, "sqlite": 4, "mysql": 4}


# -- helpers --------------------------------------------------------------------------------------


def make_app(**conf: Any) -> Celery:
    """A Celery app with the django-db backend and an in-memory broker (nothing leaves)."""
    new_app = Celery("chord-tests", set_as_current=False)
    new_app.conf.update(
        {"broker_url": "memory://", "result_backend": "django-db", "result_extended": True, **conf}
    )
    return new_app


def db_backend(celery_app: Celery) -> DatabaseBackend:
    """The app's backend, which these tests configure to be ours."""
    backend = celery_app.backend
    assert isinstance(backend, DatabaseBackend)
    return backend


def chunk_size(alias: str) -> int:
    """Ids per ``SELECT`` of ``get_many`` on ``alias`` (bounded by the parameter limit)."""
    size = DjangoTaskRepository.get_many_chunk_size
    max_params = connections[alias].features.max_query_params
    return min(size, max_params) if max_params else size


def store_successes(backend: DatabaseBackend, alias: str, values: dict[str, int]) -> None:
    """Store SUCCESS with ``values[task_id]`` for each task id (one transaction: quick)."""
    with transaction.atomic(using=alias):
        for task_id, value in values.items():
            backend.store_result(task_id, value, states.SUCCESS)


@pytest.fixture
def backend(db_alias: str) -> Iterator[DatabaseBackend]:
    """A fresh backend whose results are routed to ``db_alias``."""
    with route_results_to(db_alias):
        yield db_backend(make_app())


def start_chord(backend: DatabaseBackend, size: int) -> tuple[str, list[str], Signature[Any]]:
    """Count a chord of ``size`` header task ids as Celery does; (group id, ids, callback)."""
    group_id = uuid()
    task_ids = [uuid() for _ in range(size)]
    callback = backend.app.signature("tests.tsum")
    callback.freeze()
    header = [backend.app.AsyncResult(task_id) for task_id in task_ids]
    backend.apply_chord((group_id, header), callback)
    return group_id, task_ids, callback


def part_request(group_id: str, task_id: str, callback: Signature[Any]) -> Context:
    """The request of a header task as the worker holds it (``chord`` is the callback's dict)."""
    return Context(id=task_id, group=group_id, chord=dict(callback), task="tests.add")


def report(backend: DatabaseBackend, group_id: str, task_id: str, callback: Signature[Any]) -> None:
    """Tell the backend that header task ``task_id`` returned SUCCESS (what the worker does)."""
    result = backend.get_task_meta(task_id, cache=False)["result"]
    backend.on_chord_part_return(part_request(group_id, task_id, callback), states.SUCCESS, result)


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


# -- a real worker (threads pool, in-memory broker) -----------------------------------------------


@pytest.fixture(scope="module")
def running_worker() -> Iterator[Any]:
    """One worker on ``tests.celery_app`` (threads pool) for the module's tests.

    Starting and stopping a worker costs seconds; the tests share one and each routes the
    results to its own database (``worker``).
    """
    previous = app.conf.broker_transport_options
    # The in-memory transport polls once a second by default: every hop of a chord would wait.
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    try:
        with start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=10
        ) as running:
            yield running
    finally:
        app.conf.broker_transport_options = previous


@pytest.fixture
def worker(running_worker: Any, db_alias: str) -> Iterator[Any]:
    """The module's worker, its results routed to ``db_alias`` for this test."""
    with route_results_to(db_alias):
        yield running_worker


@pytest.fixture
def task_runs() -> Iterator[Counter[str]]:
    """How many times each task id started running in the worker (``task_prerun``)."""
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def count(task_id: str, **_: Any) -> None:
        with lock:
            runs[task_id] += 1

    signals.task_prerun.connect(count, weak=False)
    try:
        yield runs
    finally:
        signals.task_prerun.disconnect(count)


def callback_rows(alias: str, task_name: str = "tests.tsum") -> list[tuple[str, str]]:
    """(task id, status) of every stored result of ``task_name``."""
    return list(
        TaskResult.objects.using(alias)
        .filter(task_name=task_name)
        .values_list("task_id", "status")
        .order_by("task_id")
    )


def wait_ready(result: AsyncResult[Any], timeout: float = TIMEOUT) -> AsyncResult[Any]:
    """Wait for ``result`` to be ready (without raising its exception) and return it."""
    result.get(timeout=timeout, interval=POLL, propagate=False)
    return result


# -- 3. chords that cannot complete ---------------------------------------------------------------


def test_chord_without_counter_fails_its_callback(worker: Any, db_alias: str) -> None:
    """A header task of a chord that has no counter stores a ChordError on the callback."""
    callback = tsum.s()
    callback.freeze()
    group_id = uuid()
    # What a header task carries, sent without apply_chord: nothing counts this chord.
    # (Options the canvas passes to each header task; celery-types does not list them.)
    header_options: dict[str, Any] = {"group_id": group_id, "chord": callback}
    part = add.apply_async((1, 2), **header_options)
    assert part.get(timeout=TIMEOUT, interval=POLL) == 3
    outcome = wait_ready(AsyncResult(str(callback.id), app=app), timeout=ERROR_TIMEOUT)
    assert outcome.state == states.FAILURE
    assert isinstance(outcome.result, ChordError)
    assert group_id in str(outcome.result)
    assert "no counter" in str(outcome.result)


def test_failed_header_task_fails_the_callback(
    worker: Any, db_alias: str, task_runs: Counter[str]
) -> None:
    """A header task that raised gives the callback a ChordError naming it; the body never runs."""
    result = chord([add.s(1, 1), fail.s("boom"), add.s(2, 2)])(tsum.s())
    outcome = wait_ready(result)
    assert outcome.state == states.FAILURE
    assert isinstance(outcome.result, ChordError)
    header = result.parent
    assert isinstance(header, GroupResult)
    failed = [r for r in header.results or [] if r.state == states.FAILURE]
    assert len(failed) == 1
    assert f"Dependency {failed[0].id} raised ValueError('boom')" in str(outcome.result)
    assert task_runs[str(result.id)] == 0
    # Who holds only the callback's id gets the ChordError (the chord's own result re-raises
    # the header's ValueError first: Celery's follow_parents).
    with pytest.raises(ChordError, match="boom"):
        AsyncResult(result.id, app=app).get(timeout=TIMEOUT, interval=POLL)


def test_join_timeout_is_honoured(db_alias: str, sent_callbacks: SentCallbacks) -> None:
    """A header result never stored fails the callback after result_chord_join_timeout."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_chord_join_timeout=0.3))
        group_id, (t1, t2), callback = start_chord(backend, 2)
        backend.store_result(t1, 1, states.SUCCESS)
        report(backend, group_id, t1, callback)
        # t2 is counted, but its result is never stored (a lost write, a misbehaving worker).
        backend.on_chord_part_return(part_request(group_id, t2, callback), states.SUCCESS, 2)
        outcome = backend.get_task_meta(str(callback.id), cache=False)
    assert sent_callbacks.sent == []
    assert outcome["status"] == states.FAILURE
    assert isinstance(outcome["result"], ChordError)
    assert "timed out" in str(outcome["result"])
    assert "0.3" in str(outcome["result"])


# -- 4. chords sent inside a transaction ----------------------------------------------------------


def test_chord_sent_inside_atomic_fires(
    worker: Any, db_alias: str, task_runs: Counter[str]
) -> None:
    """A chord sent in transaction.atomic() fires (before commit on servers, after on SQLite)."""
    waits_inside = connections[db_alias].vendor != "sqlite"
    with transaction.atomic(using=db_alias):
        result = chord(add.s(i, i) for i in range(5))(tsum.s())
        if waits_inside:
            # The counter was committed on its own connection: the workers count the parts
            # while our transaction is still open.
            assert result.get(timeout=TIMEOUT, interval=POLL) == 20
    # SQLite: the counter was written in our transaction, so the header's writes waited for
    # this commit.
    assert result.get(timeout=TIMEOUT, interval=POLL) == 20
    assert callback_rows(db_alias) == [(result.id, states.SUCCESS)]
    assert task_runs[str(result.id)] == 1


def _chord_view(request: HttpRequest) -> JsonResponse:
    """Send a chord from a view; wait for its callback inside the request when asked to."""
    alias = request.GET["alias"]
    result = chord(add.s(i, i) for i in range(4))(tsum.s())
    value = result.get(timeout=TIMEOUT, interval=POLL) if request.GET.get("wait") else None
    return JsonResponse(
        {"id": result.id, "value": value, "atomic": connections[alias].in_atomic_block}
    )


_chord_urls = types.ModuleType("chord_view_urls")
_chord_urls.urlpatterns = [path("chord/", _chord_view)]  # type: ignore[attr-defined]


def test_chord_sent_from_atomic_request_fires(
    worker: Any, db_alias: str, monkeypatch: pytest.MonkeyPatch, task_runs: Counter[str]
) -> None:
    """A chord sent by a view under ATOMIC_REQUESTS fires its callback (once)."""
    monkeypatch.setitem(connections.settings[db_alias], "ATOMIC_REQUESTS", True)
    waits_inside = connections[db_alias].vendor != "sqlite"
    with override_settings(ROOT_URLCONF=_chord_urls):
        response = Client().get(
            "/chord/", {"alias": db_alias, **({"wait": "1"} if waits_inside else {})}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["atomic"] is True
    if waits_inside:
        assert body["value"] == 12
    callback: AsyncResult[Any] = AsyncResult(body["id"], app=app)
    assert callback.get(timeout=TIMEOUT, interval=POLL) == 12
    assert callback_rows(db_alias) == [(body["id"], states.SUCCESS)]
    assert task_runs[body["id"]] == 1


# -- 5. nested canvas -----------------------------------------------------------------------------


def _chord_of_chains() -> Any:
    return chord([chain(add.s(1, 1), add.s(1)), chain(add.s(2, 2), add.s(2))], tsum.s())


def _chord_of_groups() -> Any:
    return chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], tsum.s())


def _chain_of_chords() -> Any:
    return chain(
        chord([add.s(1, 1), add.s(2, 2)], tsum.s()),
        chord([add.s(10), add.s(20)], tsum.s()),
    )


def _group_with_a_chord() -> Any:
    return group(chord([add.s(1, 1), add.s(2, 2)], tsum.s()), add.s(5, 5))


@pytest.mark.parametrize(
    ("canvas", "expected", "callbacks"),
    [
        pytest.param(_chord_of_chains, 3 + 6, 1, id="chord-of-chains"),
        pytest.param(_chord_of_groups, 2 + 4 + 6, 1, id="chord-of-group"),
        pytest.param(_chain_of_chords, (6 + 10) + (6 + 20), 2, id="chain-of-chords"),
        pytest.param(_group_with_a_chord, [6, 10], 1, id="group-with-chord"),
    ],
)
def test_nested_canvas(
    worker: Any,
    db_alias: str,
    task_runs: Counter[str],
    canvas: Any,
    expected: Any,
    callbacks: int,
) -> None:
    """Chords nested in chains and groups give the right result; each callback runs once."""
    result = canvas().apply_async()
    assert result.get(timeout=TIMEOUT, interval=POLL) == expected
    rows = callback_rows(db_alias)
    assert len(rows) == callbacks
    assert {status for _, status in rows} == {states.SUCCESS}
    assert {task_id: task_runs[task_id] for task_id, _ in rows} == {
        task_id: 1 for task_id, _ in rows
    }


# -- 6. cleanup -----------------------------------------------------------------------------------


def test_cleanup_removes_expired_counters_and_their_parts(
    db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """backend.cleanup() deletes counters older than result_expires, with their parts."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_expires=timedelta(hours=1)))
        old_group, old_ids, old_callback = start_chord(backend, 3)
        new_group, new_ids, new_callback = start_chord(backend, 3)
        store_successes(backend, db_alias, {old_ids[0]: 1, new_ids[0]: 1})
        report(backend, old_group, old_ids[0], old_callback)
        report(backend, new_group, new_ids[0], new_callback)
        counters = ChordCounterModel.objects.using(db_alias)
        parts = ChordPart.objects.using(db_alias)
        assert parts.filter(group_id=old_group).count() == 1
        past = backend.app.now() - timedelta(hours=2)
        counters.filter(group_id=old_group).update(date_created=past)

        backend.cleanup()

        assert not counters.filter(group_id=old_group).exists()
        assert not parts.filter(group_id=old_group).exists()
        assert counters.get(group_id=new_group).count == 2
        assert list(parts.filter(group_id=new_group).values_list("task_id", flat=True)) == [
            new_ids[0]
        ]
        # The fresh chord still counts, and completes.
        store_successes(backend, db_alias, {new_ids[1]: 2, new_ids[2]: 3})
        report(backend, new_group, new_ids[1], new_callback)
        report(backend, new_group, new_ids[2], new_callback)
    assert sent_callbacks.sent == [(new_callback.id, "tests.tsum", ([1, 2, 3],))]
