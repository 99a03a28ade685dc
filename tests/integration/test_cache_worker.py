"""A real Celery worker (threads, in-memory broker) storing through django-cache on each cache.

Redis, memcached and local memory count chords in the cache (no ``chord_unlock`` task is ever
sent); the database cache, whose increment is not atomic, leaves them to Celery's polling
``chord_unlock`` task. Either way a chord of 200 fires its callback exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from celery import Celery, chord, group
from celery.contrib.testing.worker import start_worker
from celery.exceptions import ChordError
from celery.result import AsyncResult, GroupResult
from celery.signals import before_task_publish
from django.core.management import call_command

from django_celery_results.backends import CacheBackend
from tests.integration.test_cache_store import cache_alias_params

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TIMEOUT = 60
#: Where chords are counted in the cache, and where Celery's unlock task joins them.
COUNTED = ("redis", "memcached", "locmem")
UNLOCKED = ("database",)


@attrs.define
class WorkerApp:
    """A Celery app on one cache alias, its tasks, and what they observed.

    Attributes:
        app: the Celery app (django-cache results, in-memory broker).
        alias: the cache alias its results go to.
        callbacks: how often each chord callback ran, by the key it was given.
        published: how many messages of each task name were sent.
    """

    app: Celery
    alias: str
    callbacks: Counter[str] = attrs.field(factory=Counter)
    published: Counter[str] = attrs.field(factory=Counter)
    lock: threading.Lock = attrs.field(factory=threading.Lock)


def make_worker_app(alias: str) -> WorkerApp:
    """A fresh app whose backend stores in ``alias``, with the tasks the tests run."""
    app = Celery(f"dcr_cache_worker_{alias}", set_as_current=False)
    app.conf.update(
        broker_url="memory://",
        # The in-memory transport sleeps a whole second whenever it finds its queue empty.
        broker_transport_options={"polling_interval": 0.01},
        result_backend="django-cache",
        cache_backend=alias,
        result_expires=600,
        result_extended=True,
        task_track_started=True,
        result_chord_retry_interval=0.2,
        # The database cache on SQLite refuses concurrent writes now and then ("database is
        # locked"); the adapter raises those instead of losing them, and Celery retries.
        result_backend_always_retry=True,
        result_backend_max_retries=20,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=False,
    )
    observed = WorkerApp(app, alias)

    @app.task(name="cache_tests.add", shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="cache_tests.fail", shared=False)
    def fail(message: str) -> None:
        raise ValueError(message)

    @app.task(name="cache_tests.collect", shared=False)
    def collect(values: list[int], key: str) -> int:
        with observed.lock:
            observed.callbacks[key] += 1
        return sum(values)

    return observed


@pytest.fixture(scope="module", params=cache_alias_params(COUNTED + UNLOCKED))
def worker(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[WorkerApp]:
    """A running worker (4 threads) whose results go to one cache alias, for the module."""
    alias: str = request.param
    if alias == "database":
        with django_db_blocker.unblock():
            call_command("createcachetable", "dcr_cache_entries", database="default", verbosity=0)
    observed = make_worker_app(alias)

    def count(sender: Any = None, **kwargs: Any) -> None:
        with observed.lock:
            observed.published[str(sender)] += 1

    before_task_publish.connect(count, weak=False)
    try:
        with start_worker(
            observed.app,
            pool="threads",
            concurrency=4,
            perform_ping_check=False,
            shutdown_timeout=15,
        ):
            yield observed
    finally:
        before_task_publish.disconnect(count)


def task(observed: WorkerApp, name: str) -> Any:
    """The app's task named ``cache_tests.<name>``."""
    return observed.app.tasks[f"cache_tests.{name}"]


def test_backend_is_the_cache_backend(worker: WorkerApp) -> None:
    """The app resolved "django-cache" to CacheBackend on the fixture's cache."""
    backend = worker.app.backend
    assert isinstance(backend, CacheBackend)
    assert backend.cache_alias == worker.alias


def test_task_result_is_stored(worker: WorkerApp) -> None:
    """A task's SUCCESS and result are read back from the cache, by a fresh AsyncResult too."""
    result = task(worker, "add").delay(2, 3)
    assert result.get(timeout=TIMEOUT) == 5
    fresh: AsyncResult[Any] = AsyncResult(result.id, app=worker.app)
    assert fresh.state == "SUCCESS"
    assert fresh.result == 5
    assert fresh.date_done is not None
    assert fresh.name == "cache_tests.add"


def test_failing_task_stores_its_exception(worker: WorkerApp) -> None:
    """A failure is re-raised by get() as the task's own exception, with its traceback."""
    result = task(worker, "fail").delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=TIMEOUT)
    fresh: AsyncResult[Any] = AsyncResult(result.id, app=worker.app)
    assert fresh.state == "FAILURE"
    assert isinstance(fresh.result, ValueError)
    assert "ValueError: boom" in (worker.app.backend.get_traceback(result.id) or "")


def test_group_is_saved_restored_and_joined(worker: WorkerApp) -> None:
    """A saved group restores from the cache and joins with every member's result."""
    add = task(worker, "add")
    result: Any = group(add.s(i, i) for i in range(20)).delay()
    assert isinstance(result, GroupResult)
    result.save()
    assert result.join_native(timeout=TIMEOUT) == [2 * i for i in range(20)]
    assert result.id
    restored = GroupResult.restore(result.id, app=worker.app)
    assert restored is not None
    assert [r.id for r in restored.results or []] == [r.id for r in result.results or []]
    assert restored.get(timeout=TIMEOUT) == [2 * i for i in range(20)]


def test_chord_of_200_fires_its_callback_once(worker: WorkerApp) -> None:
    """A chord of 200 header tasks runs its callback exactly once, with all 200 results."""
    add, collect = task(worker, "add"), task(worker, "collect")
    key = f"chord-200-{worker.alias}"
    result = chord(add.s(i, 1) for i in range(200))(collect.s(key))
    assert result.get(timeout=TIMEOUT) == sum(range(1, 201))
    time.sleep(1)  # a second firing would come right after the first
    assert worker.callbacks[key] == 1
    unlocks = worker.published["celery.chord_unlock"]
    if worker.alias in COUNTED:
        assert unlocks == 0, "counted in the cache: no polling unlock task"
    else:
        assert unlocks >= 1, "the database cache leaves chords to Celery's unlock task"


def test_chord_with_a_failed_header_fails_its_callback(worker: WorkerApp) -> None:
    """A header task's failure fails the callback with a ChordError; the callback never runs."""
    add, fail, collect = task(worker, "add"), task(worker, "fail"), task(worker, "collect")
    key = f"chord-failed-{worker.alias}"
    result = chord([add.s(1, 1), fail.s("header broke"), add.s(2, 2)])(collect.s(key))
    # get() re-raises a failed parent's own error when it sees it before the callback's.
    with pytest.raises((ChordError, ValueError), match="header broke"):
        result.get(timeout=TIMEOUT)
    callback: AsyncResult[Any] = AsyncResult(result.id, app=worker.app)
    deadline = time.monotonic() + TIMEOUT
    while callback.state != "FAILURE" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert isinstance(callback.result, ChordError)
    assert worker.callbacks[key] == 0
