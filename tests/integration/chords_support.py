"""What the django-db chord tests share: the app, a chord counted by hand, a real worker.

The chord tests of issue 3 are split by concern (``test_chords_*.py``); the helpers that start a
chord and report its header tasks as a worker would, and the fixtures of the one real worker, live
here (the chord fault and recovery tests import them too).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, signals, states, uuid
from celery.app.task import Context
from celery.canvas import Signature
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from django_celery_results.backends import DatabaseBackend
from tests.celery_app import app
from tests.routers import route_results_to

__all__ = [
    "POLL",
    "TIMEOUT",
    "db_backend",
    "make_app",
    "part_request",
    "report",
    "running_worker",
    "start_chord",
    "store_successes",
    "task_runs",
    "worker",
]

#: Seconds a test waits for a worker's result before failing.
TIMEOUT = 30
#: Seconds between polls of a result (the default 0.5 s only slows the tests down).
POLL = 0.05


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


def store_successes(backend: DatabaseBackend, alias: str, values: dict[str, int]) -> None:
    """Store SUCCESS with ``values[task_id]`` for each task id (one transaction: quick)."""
    with transaction.atomic(using=alias):
        for task_id, value in values.items():
            backend.store_result(task_id, value, states.SUCCESS)


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
