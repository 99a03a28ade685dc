"""Chord recovery with a real prefork worker killed (SIGKILL) inside the crash window (issue 9).

The worker that counts a chord's last header task claims the callback, then (through the test
hook of ``tests.stress_app``) stops before sending it; the test kills the worker's whole process
group, as the OOM killer or a lost node would. Recovery then sends the callback, a fresh worker
runs it, and it runs exactly once. With no crash, recovery sends nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import chord, states

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import TaskResult
from django_celery_results.backends import DatabaseBackend
from tests import stress_app
from tests.integration.test_chord_stress import (
    StressWorker,
    _drop_queue,
    _stop,
    reachable_broker,
    start_worker_process,
)
from tests.routers import route_results_to

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases="__all__", transaction=True)]

#: Seconds a wait may take before the test fails.
DEADLINE = 60


def wait_until(condition: Any, what: str, worker: StressWorker | None = None) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``DEADLINE``."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            tail = worker.log_tail() if worker else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


def callback_runs(runs: Path, callback_id: str) -> int:
    """How many times the callback ran (one line per run in the worker's runs file)."""
    lines = runs.read_text(encoding="utf-8").splitlines()
    return Counter(lines)[f"callback {callback_id}"]


@pytest.fixture
def broker_url() -> str:
    """RabbitMQ's URL (skips, or fails on CI, when it does not answer)."""
    return reachable_broker()


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    """A fresh queue for the test's workers, purged and deleted afterwards."""
    name = f"dcr-recovery-{time.monotonic_ns()}"
    try:
        yield name
    finally:
        _drop_queue(name)


def recovery_backend() -> DatabaseBackend:
    """The test process's django-db backend on the workers' app (to publish the callback)."""
    backend = stress_app.app.backend
    assert isinstance(backend, DatabaseBackend)
    return backend


def test_killed_worker_chord_is_recovered_once(
    db_alias: str, broker_url: str, queue: str, tmp_path: Path
) -> None:
    """SIGKILL after claiming the callback: recovery sends it, a new worker runs it once."""
    runs, held = tmp_path / "runs.txt", tmp_path / "held.txt"
    runs.touch()
    with route_results_to(db_alias):
        first = start_worker_process(
            db_alias, broker_url, queue, tmp_path / "w1.log", runs, hold=held, concurrency=1
        )
        try:
            header = [stress_app.part.s(n).set(queue=queue) for n in range(3)]
            result = chord(header)(stress_app.collect.s().set(queue=queue))
            wait_until(lambda: held.exists() and "held" in held.read_text(), "the hold", first)
            group_id = held.read_text().split()[1]
            counter = ChordCounterModel.objects.using(db_alias).get(group_id=group_id)
            assert counter.count == 0
            assert counter.date_claimed is not None
            assert counter.date_done is None
        finally:
            _stop(first.process, kill=True)
        assert callback_runs(runs, result.id) == 0

        # Within the grace period recovery leaves the (dead) claimer alone.
        assert recovery_backend().recover_chords(grace=timedelta(minutes=5)).sent == []
        second = start_worker_process(db_alias, broker_url, queue, tmp_path / "w2.log", runs)
        try:
            assert recovery_backend().recover_chords(grace=timedelta(0)).sent == [group_id]
            wait_until(
                lambda: (
                    TaskResult.objects.using(db_alias)
                    .filter(task_id=result.id, status=states.SUCCESS)
                    .exists()
                ),
                "the recovered callback's result",
                second,
            )
            assert result.get(timeout=10) == [0, 1, 2]
            assert recovery_backend().recover_chords(grace=timedelta(0)).sent == []
            time.sleep(1)  # a second run, if one were sent, would have shown by now
        finally:
            _stop(second.process)
    assert callback_runs(runs, result.id) == 1


def test_no_crash_means_nothing_to_recover(
    db_alias: str, broker_url: str, queue: str, tmp_path: Path
) -> None:
    """A chord whose worker lives: the callback runs once and recovery sends nothing."""
    runs = tmp_path / "runs.txt"
    runs.touch()
    with route_results_to(db_alias):
        worker = start_worker_process(db_alias, broker_url, queue, tmp_path / "w.log", runs)
        try:
            header = [stress_app.part.s(n).set(queue=queue) for n in range(3)]
            result = chord(header)(stress_app.collect.s().set(queue=queue))
            assert result.get(timeout=DEADLINE) == [0, 1, 2]
            wait_until(
                lambda: (
                    ChordCounterModel.objects.using(db_alias)
                    .filter(date_done__isnull=False, count=0)
                    .exists()
                ),
                "the callback recorded as sent",
                worker,
            )
            assert recovery_backend().recover_chords(grace=timedelta(0)).sent == []
        finally:
            _stop(worker.process)
    assert callback_runs(runs, result.id) == 1
