"""Chords as Celery's own canvas suite drives them (issue 9, defects 8 and 9), on each database.

Celery counts one part per task inside a nested group (``chord._descend``); counting the
header's top-level members fired the callback of Celery's own ``test_nested_group_chain``
early, and the callback step's join then waited with no timeout for the nested group: one
worker process wedged for good. Here: the count, the callback after every inner task with the
right values (a one-thread worker, as Celery's suite runs), a join that never outlasts
``result_chord_join_timeout``, and ``get()`` of a chord whose header failed raising the header
task's own exception (Celery's ``test_error_propagates_to_chord_from_*``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import VERSION as CELERY_VERSION
from celery import Celery, chain, chord, group, signals, states, uuid
from celery.contrib.testing.worker import start_worker
from celery.exceptions import ChordError, TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult, GroupResult, allow_join_result
from django.db import connections
from django.db.backends.signals import connection_created

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.backends import CacheBackend, DatabaseBackend
from django_celery_results.celery_bridge.chords import fire_chord_callback
from tests.celery_app import add, app, fail
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: Seconds a test waits for a worker's result before failing.
TIMEOUT = 30
#: Seconds between polls of a result.
POLL = 0.05
#: The join timeout the bounded-join tests set (Celery's default is 3 s).
JOIN_TIMEOUT = 0.5


@app.task(name="tests.collect")
def collect(values: Any) -> Any:
    """Return what the chord handed over (its header's results, nested lists included)."""
    return values


def nested_group_chain() -> Any:
    """Celery's ``test_nested_group_chain`` canvas, with a callback that returns its input.

    The chord in the middle has two header elements and three parts: ``add(1, 100)``, and the
    two tasks of the group that ends the inner chain (``add(1, 200)`` only feeds that group).
    """
    return chain(
        add.si(1, 0),
        group(
            add.si(1, 100),
            chain(add.si(1, 200), group(add.si(1, 1000), add.si(1, 2000))),
        ),
        collect.s(),
    )


def nested_chord(callback: Any) -> Any:
    """The chord of :func:`nested_group_chain` on its own."""
    return chord(
        [add.si(1, 100), chain(add.si(1, 200), group(add.si(1, 1000), add.si(1, 2000)))],
        callback,
    )


# -- the count ----------------------------------------------------------------------------


def test_chord_counts_every_task_of_a_nested_group(db_alias: str) -> None:
    """The counter of a header ``[task, chain(task, group(a, b))]`` waits for 3 parts, not 2."""
    body = collect.s()
    with route_results_to(db_alias):
        header_result = nested_chord(body).freeze().parent
        assert isinstance(header_result, GroupResult)
        DatabaseBackend(app=app).apply_chord(header_result, body)
    counter = ChordCounterModel.objects.using(db_alias).get(group_id=header_result.id)
    assert counter.count == 3


def test_cache_backend_counts_every_task_of_a_nested_group() -> None:
    """django-cache (local memory): the same header's counter waits for 3 parts."""
    cache_app = Celery("nested-chords-cache", set_as_current=False)
    cache_app.conf.update(result_backend="django-cache", cache_backend="locmem")
    backend = cache_app.backend
    assert isinstance(backend, CacheBackend)
    assert backend.implements_incr
    body = collect.s()
    header_result = nested_chord(body).freeze().parent
    assert isinstance(header_result, GroupResult)
    backend.apply_chord(header_result, body)
    assert backend.results.remaining(str(header_result.id)) == 3


# -- a real worker with one thread ----------------------------------------------------------


@pytest.fixture(scope="module")
def one_thread_worker() -> Iterator[Any]:
    """One worker thread, as Celery's suite runs it: a wedged callback step stops it all.

    The connections its threads opened are closed when it stops: the consumer thread reads
    results too (a revoke of a group callback's tasks), and an open one keeps PostgreSQL from
    dropping the test database.
    """
    opened: list[Any] = []

    def remember(connection: Any, **_: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            opened.append(connection)

    previous = app.conf.broker_transport_options
    # The in-memory transport polls once a second by default: every hop would wait.
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    connection_created.connect(remember, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ) as running:
            yield running
    finally:
        app.conf.broker_transport_options = previous
        connection_created.disconnect(remember)
        for connection in opened:
            connection.inc_thread_sharing()  # closed from this thread, its owner is gone
            connection.close()


@pytest.fixture
def worker(one_thread_worker: Any, db_alias: str) -> Iterator[Any]:
    """The module's worker, its results routed to ``db_alias`` for this test."""
    with route_results_to(db_alias):
        yield one_thread_worker


@pytest.fixture
def task_times() -> Iterator[dict[str, list[tuple[str, float]]]]:
    """``{"pre"|"post": [(task name, monotonic time), ...]}`` for every task the worker runs."""
    seen: dict[str, list[tuple[str, float]]] = {"pre": [], "post": []}
    lock = threading.Lock()

    def on_prerun(task: Any, **_: Any) -> None:
        with lock:
            seen["pre"].append((task.name, time.monotonic()))

    def on_postrun(task: Any, **_: Any) -> None:
        with lock:
            seen["post"].append((task.name, time.monotonic()))

    signals.task_prerun.connect(on_prerun, weak=False)
    signals.task_postrun.connect(on_postrun, weak=False)
    try:
        yield seen
    finally:
        signals.task_prerun.disconnect(on_prerun)
        signals.task_postrun.disconnect(on_postrun)


@pytest.mark.timeout(90)
def test_callback_fires_once_after_every_nested_task(
    worker: Any, task_times: dict[str, list[tuple[str, float]]]
) -> None:
    """Celery's nested group chain: one callback run, after all 5 adds, with nested values."""
    result = nested_group_chain().apply_async()
    assert result.get(timeout=TIMEOUT, interval=POLL) == [101, [1001, 2001]]
    callback_starts = [at for name, at in task_times["pre"] if name == "tests.collect"]
    add_ends = [at for name, at in task_times["post"] if name == "tests.add"]
    assert len(callback_starts) == 1
    assert len(add_ends) == 5
    assert callback_starts[0] > max(add_ends)


# -- the join in the callback step is bounded ---------------------------------------------------


@pytest.fixture
def join_timeout() -> Iterator[float]:
    """``result_chord_join_timeout`` set to JOIN_TIMEOUT for the test."""
    previous = app.conf.result_chord_join_timeout
    app.conf.result_chord_join_timeout = JOIN_TIMEOUT
    try:
        yield JOIN_TIMEOUT
    finally:
        app.conf.result_chord_join_timeout = previous


def run_bounded(function: Any, limit: float) -> tuple[float, BaseException | None]:
    """Run ``function`` in a daemon thread: (seconds taken, what it raised); fails past ``limit``.

    A join that waits forever must fail the test, not hang the suite.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            function()
        except BaseException as exc:  # handed back to the test, whatever it is
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            # This thread's own connections: left open, they keep the test database in use.
            connections.close_all()

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still waiting after {limit} s"
    return time.monotonic() - started, outcome[0]


def header_with_unfinished_nested_group(backend: DatabaseBackend) -> GroupResult:
    """A header whose direct member is done and whose nested group holds a task never run."""
    done = uuid()
    backend.store_result(done, 101, states.SUCCESS)
    nested = GroupResult(uuid(), [AsyncResult(uuid(), app=app)], app=app)
    # celery-types types members as AsyncResult; Celery nests GroupResults in headers.
    members: list[Any] = [AsyncResult(done, app=app), nested]
    return GroupResult(uuid(), members, app=app)


def test_native_join_of_a_nested_group_honours_its_timeout(
    db_alias: str, join_timeout: float
) -> None:
    """``join_native`` over a nested group whose task never ends raises TimeoutError in time."""
    with route_results_to(db_alias):
        header = header_with_unfinished_nested_group(DatabaseBackend(app=app))

        def join() -> None:
            with allow_join_result():
                header.join_native(timeout=join_timeout, propagate=True, interval=POLL)

        took, raised = run_bounded(join, limit=10)
    assert isinstance(raised, CeleryTimeoutError)
    assert took < join_timeout + 2


def test_callback_step_over_an_unfinished_nested_group_ends_as_chord_error(
    db_alias: str, join_timeout: float
) -> None:
    """The callback step gives up after ``result_chord_join_timeout``: ChordError on the body."""
    body = collect.s()
    callback_id = body.freeze().id
    with route_results_to(db_alias):
        backend = DatabaseBackend(app=app)
        header = header_with_unfinished_nested_group(backend)
        took, raised = run_bounded(
            lambda: fire_chord_callback(backend, str(header.id), header, body), limit=10
        )
        assert raised is None
        assert took < join_timeout + 2
        stored: AsyncResult[Any] = AsyncResult(callback_id, app=app, backend=backend)
        assert stored.state == states.FAILURE
        assert isinstance(stored.result, ChordError)


# -- get() of a failed chord raises the header's own exception ------------------------------------


def test_wait_for_lets_the_parents_raise_before_returning_a_failure(db_alias: str) -> None:
    """A failed result is returned only after ``on_interval`` (the parents' re-raise) ran once."""
    checks: list[int] = []
    with route_results_to(db_alias):
        backend = DatabaseBackend(app=app)
        task_id = uuid()
        backend.store_result(task_id, ValueError("failed"), states.FAILURE)
        meta = backend.wait_for(
            task_id, timeout=5, interval=POLL, on_interval=lambda: checks.append(1)
        )
    assert meta["status"] == states.FAILURE
    assert checks == [1]


@pytest.mark.timeout(90)
def test_chord_get_raises_the_failed_header_tasks_exception(worker: Any) -> None:
    """``get()`` right after sending: the header task's ValueError, not the callback's ChordError.

    The callback's ChordError is stored a moment after the header task's failure; ``get()``
    polling in between used to decide which one it raised.
    """
    result = chord([add.si(1, 1), fail.si("header task failed")], collect.s()).apply_async()
    with pytest.raises(ValueError, match="header task failed"):
        # Celery's default interval: a poll rarely falls between the two writes.
        result.get(timeout=TIMEOUT, interval=0.5)
    callback: AsyncResult[Any] = AsyncResult(result.id, app=app)
    assert isinstance(callback.get(timeout=TIMEOUT, interval=POLL, propagate=False), ChordError)


# What the tasks of a group body hold once the chord's header failed is Celery's behaviour
# (``Backend.chord_error_from_stack``), not ours, and it changed twice:
# - Celery < 5.6 fails only the callback's own id (the group's id): the group's tasks are never
#   stored and stay PENDING.
# - Celery 5.6 added ``_handle_group_chord_error`` (celery#8786) for a group body, which revokes
#   the group's tasks first and stores the failure after; the worker's revoke handler stores
#   REVOKED too, so each task ends REVOKED or FAILURE, whichever write lands last.
# - Celery 5.7 stores the failures before broadcasting the revoke, so that the revoke handler
#   finds and keeps them: each task holds the header task's exception.
# One test per side, each skipped on the Celery versions it does not describe.
_GROUP_BODY_STORES_FAILURES = CELERY_VERSION[:2] >= (5, 7)
_GROUP_BODY_IS_REVOKED = CELERY_VERSION[:2] == (5, 6)
_GROUP_BODY_STAYS_PENDING = CELERY_VERSION[:2] < (5, 6)


def _chord_with_failing_header_and_group_body() -> Any:
    # celery-types types apply_async as an AsyncResult; a group body's result is a GroupResult.
    return chord([fail.si("header task failed")], group(collect.s(), collect.s())).apply_async()


@pytest.mark.skipif(
    not _GROUP_BODY_STORES_FAILURES, reason="Celery < 5.7 does not store the failure on them"
)
@pytest.mark.timeout(90)
def test_group_body_tasks_store_the_failed_header_tasks_exception(worker: Any) -> None:
    """Celery >= 5.7: a group callback's tasks each hold the header task's ValueError.

    Celery's ``chord_error_from_stack`` stores the ChordError's cause on each task of a group
    body (Celery's ``test_chord_error_propagation_with_different_body_types[body is a group]``).
    """
    result = _chord_with_failing_header_and_group_body()
    with pytest.raises(ValueError, match="header task failed"):
        result.get(timeout=TIMEOUT, interval=POLL)
    assert len(result.results) == 2
    for member in result.results:
        stored: AsyncResult[Any] = AsyncResult(member.id, app=app)
        assert isinstance(stored.get(timeout=TIMEOUT, interval=POLL, propagate=False), ValueError)


@pytest.mark.skipif(not _GROUP_BODY_IS_REVOKED, reason="only Celery 5.6 revokes before storing")
@pytest.mark.timeout(90)
def test_group_body_tasks_are_revoked_or_failed_on_celery_5_6(worker: Any) -> None:
    """Celery 5.6: a group callback's tasks end REVOKED or failed with the header's ValueError.

    5.6 broadcasts the revoke first and then stores the failure, while the worker's revoke
    handler (``celery.worker.control._revoke``) stores REVOKED unconditionally: whichever write
    lands last wins, so both outcomes are Celery 5.6's behaviour. What #8786 fixed holds either
    way: the tasks no longer stay PENDING.
    """
    result = _chord_with_failing_header_and_group_body()
    with pytest.raises((TaskRevokedError, ValueError)) as raised:
        result.get(timeout=TIMEOUT, interval=POLL)
    if isinstance(raised.value, ValueError):
        assert str(raised.value) == "header task failed"
    assert len(result.results) == 2
    # get() raised at the first task it found ready; the other may be a write behind.
    deadline = time.monotonic() + TIMEOUT
    while not all(AsyncResult(m.id, app=app).ready() for m in result.results):
        assert time.monotonic() < deadline, "a group body task stayed PENDING"
        time.sleep(POLL)
    for member in result.results:
        # str(): celery-types' ``state`` literal leaves out REVOKED.
        assert str(AsyncResult(member.id, app=app).state) in {states.REVOKED, states.FAILURE}


@pytest.mark.skipif(
    not _GROUP_BODY_STAYS_PENDING, reason="Celery >= 5.6 stores a state on a group body's tasks"
)
@pytest.mark.timeout(90)
def test_group_body_tasks_stay_pending_before_celery_5_6(worker: Any) -> None:
    """Celery < 5.6: only the group's own id is failed; its tasks are never stored (PENDING)."""
    result = _chord_with_failing_header_and_group_body()
    header = result.parent
    # The header task's failure is what triggers Celery's chord error handling: wait for it,
    # then give the handling a moment; nothing arrives on the body's tasks.
    with pytest.raises(ValueError, match="header task failed"):
        header.get(timeout=TIMEOUT, interval=POLL)
    # A short wait, not TIMEOUT: the results never come, and every second here is CI time.
    with pytest.raises(CeleryTimeoutError):
        result.get(timeout=3, interval=POLL)
    assert len(result.results) == 2
    for member in result.results:
        assert AsyncResult(member.id, app=app).state == states.PENDING
