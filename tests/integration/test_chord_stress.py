"""Chords under load: a prefork worker subprocess, RabbitMQ, and django-db on each database.

The worker (``celery -A tests.stress_app worker -P prefork -c 2``) stores its results in the
test's own database (pytest-django's test database, passed through ``tests.worker_settings``),
so the test sees every row it wrote. On CI a missing RabbitMQ fails; elsewhere it skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import chord, states
from celery.result import AsyncResult, ResultSet
from django.db import connections
from kombu import Connection

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import TaskResult
from tests import deprecations, stress_app
from tests import settings as test_settings
from tests.routers import route_results_to

pytestmark = [
    pytest.mark.stress,
    pytest.mark.worker,
    pytest.mark.django_db(databases="__all__", transaction=True),
]

REPO = Path(__file__).resolve().parents[2]
#: 20 chords of 200 header tasks, and one of 1,000 (issue 3).
CHORDS, HEADER, BIG_HEADER = 20, 200, 1000
#: Every 10th header task reports its part twice in the duplicate runs.
DUPLICATE_EVERY = 10
#: Seconds the whole workload may take before the test fails.
DEADLINE = 240
#: The worker's result_chord_join_timeout. The last part is counted only after every header
#: result was stored, so the callback's join reads them all in its first poll; a tiny timeout
#: turns any wait (a chord ended early by a double-counted part) into a ChordError.
JOIN_TIMEOUT = 0.01


@pytest.fixture(scope="module")
def broker_url() -> str:
    """RabbitMQ's URL; the tests skip (fail on CI) when it does not answer."""
    return reachable_broker()


def reachable_broker() -> str:
    """RabbitMQ's URL; skips the test (fails it on CI) when the broker does not answer."""
    try:
        with Connection(stress_app.BROKER_URL, connect_timeout=3) as connection:
            connection.connect()
    except Exception as exc:
        reason = f"RabbitMQ at {stress_app.BROKER_URL} is not reachable ({exc!r})"
        if test_settings.IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return stress_app.BROKER_URL


@pytest.fixture(params=[False, True], ids=["acks-early", "acks-late-duplicates"])
def acks_late(request: pytest.FixtureRequest) -> bool:
    """Run once as is, once with task_acks_late and every 10th header part reported twice."""
    value: bool = request.param
    return value


class StressWorker:
    """A running worker subprocess: its queue, its log and the file its callbacks note runs in.

    Attributes:
        queue: the queue it consumes (unique to the test).
        log: its stdout and stderr.
        runs: one line per callback run and per duplicated report (``tests.stress_app``).
        process: the ``celery worker`` process.
    """

    def __init__(self, queue: str, log: Path, runs: Path, process: subprocess.Popen[bytes]):
        self.queue = queue
        self.log = log
        self.runs = runs
        self.process = process

    def log_tail(self, lines: int = 60) -> str:
        """The end of the worker's output, for failure messages."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _worker_env(
    alias: str, broker: str, acks_late: bool, runs: Path, hold: Path | None = None
) -> dict[str, str]:
    database = connections[alias].settings_dict
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    # Deprecations are errors from the worker's first import (tests.worker_settings keeps
    # them errors after Celery's logging set-up).
    return {
        **deprecations.environ(os.environ),
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DCR_WORKER_DB_ENGINE": str(database["ENGINE"]),
        # pytest-django's test database: NAME was switched to it when it was created.
        "DCR_WORKER_DB_NAME": str(database["NAME"]),
        "DCR_WORKER_DB_HOST": str(database.get("HOST") or ""),
        "DCR_WORKER_DB_PORT": str(database.get("PORT") or ""),
        "DCR_WORKER_DB_USER": str(database.get("USER") or ""),
        "DCR_WORKER_DB_PASSWORD": str(database.get("PASSWORD") or ""),
        "DCR_WORKER_DB_OPTIONS": json.dumps(database.get("OPTIONS") or {}),
        "DCR_STRESS_BROKER": broker,
        "DCR_STRESS_ACKS_LATE": "1" if acks_late else "0",
        "DCR_STRESS_JOIN_TIMEOUT": str(JOIN_TIMEOUT),
        "DCR_STRESS_RUNS": str(runs),
        **({"DCR_HOLD_CALLBACK": str(hold)} if hold else {}),
    }


def _stop(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    """Warm shutdown, then kill the worker's process group (its pool children) if need be.

    ``kill``: SIGKILL the whole group at once, as the OOM killer or a lost node would.
    """
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    # The group is the worker's own session (start_new_session): whatever is left is ours.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _drop_queue(queue: str) -> None:
    """Purge and delete the test's queue on the broker."""
    with stress_app.app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        with contextlib.suppress(Exception):
            channel.queue_purge(queue)
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)


def start_worker_process(
    alias: str,
    broker: str,
    queue: str,
    log: Path,
    runs: Path,
    *,
    acks_late: bool = False,
    hold: Path | None = None,
    concurrency: int = 2,
) -> StressWorker:
    """Start ``celery -A tests.stress_app worker`` (prefork) on ``queue``, storing into ``alias``.

    ``hold``: the file the chord callback hook of ``tests.stress_app`` writes to before it
    holds the worker between claiming a callback and sending it.
    """
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.stress_app",
        "worker",
        "-P",
        "prefork",
        "-c",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queue,
        "-n",
        f"{queue}-{log.stem}@%h",
        "-l",
        "WARNING",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=_worker_env(alias, broker, acks_late, runs, hold),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return StressWorker(queue, log, runs, process)


@pytest.fixture
def stress_worker(
    db_alias: str, broker_url: str, acks_late: bool, tmp_path: Path
) -> Iterator[StressWorker]:
    """A prefork worker subprocess (2 processes) on a fresh queue, storing into ``db_alias``."""
    queue = f"dcr-stress-{uuid.uuid4().hex}"
    log, runs = tmp_path / "worker.log", tmp_path / "callback-runs.txt"
    runs.touch()
    worker = start_worker_process(db_alias, broker_url, queue, log, runs, acks_late=acks_late)
    try:
        with route_results_to(db_alias):
            yield worker
    finally:
        try:
            _stop(worker.process)
        finally:
            _drop_queue(queue)


def _send_chord(queue: str, first: int, size: int, duplicates: bool) -> AsyncResult[Any]:
    header = [
        stress_app.part.s(value, duplicate=duplicates and n % DUPLICATE_EVERY == 0).set(queue=queue)
        for n, value in enumerate(range(first, first + size), start=1)
    ]
    result: AsyncResult[Any] = chord(header)(stress_app.collect.s().set(queue=queue))
    return result


def _wait_for_callbacks(worker: StressWorker, alias: str, callback_ids: list[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    ready_rows = TaskResult.objects.using(alias).filter(
        task_id__in=callback_ids, status__in=sorted(states.READY_STATES)
    )
    while ready_rows.count() < len(callback_ids):
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited ({worker.process.returncode}):\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"{ready_rows.count()} of {len(callback_ids)} callbacks ready after {DEADLINE} s"
                f"\n{worker.log_tail()}"
            )
        time.sleep(0.5)


def test_chords_fire_exactly_once_under_load(
    stress_worker: StressWorker, db_alias: str, acks_late: bool
) -> None:
    """20 chords x 200 and one of 1,000 on a prefork worker: each callback runs once, right."""
    queue, duplicates = stress_worker.queue, acks_late
    expected: dict[str, list[int]] = {}
    started = time.monotonic()
    for n in range(CHORDS):
        first = n * HEADER
        callback = _send_chord(queue, first, HEADER, duplicates)
        expected[str(callback.id)] = list(range(first, first + HEADER))
    first = CHORDS * HEADER
    callback = _send_chord(queue, first, BIG_HEADER, duplicates)
    expected[str(callback.id)] = list(range(first, first + BIG_HEADER))
    sent = time.monotonic()

    _wait_for_callbacks(stress_worker, db_alias, list(expected))
    done = time.monotonic()
    sys.stderr.write(
        f"\n[{db_alias}, acks_late={acks_late}] sent in {sent - started:.1f} s, "
        f"all callbacks done in {done - started:.1f} s\n"
    )

    callbacks: list[AsyncResult[Any]] = [
        AsyncResult(task_id, app=stress_app.app) for task_id in expected
    ]
    values = ResultSet(callbacks, app=stress_app.app).join_native(timeout=10, propagate=False)
    wrong = {
        r.id: (r.state, repr(v)[:200])
        for r, v in zip(callbacks, values, strict=True)
        if v != expected[r.id]
    }
    some = dict(list(wrong.items())[:3])
    assert not wrong, f"{len(wrong)} callbacks failed or got a wrong result, e.g. {some}"

    rows = TaskResult.objects.using(db_alias)
    header_tasks = CHORDS * HEADER + BIG_HEADER
    assert rows.filter(task_name="stress.part", status=states.SUCCESS).count() == header_tasks
    callback_rows = dict(rows.filter(task_name="stress.collect").values_list("task_id", "status"))
    assert callback_rows == dict.fromkeys(expected, states.SUCCESS)
    assert not rows.exclude(status=states.SUCCESS).exists()
    # A callback sent twice would run twice under the same id (one row): its runs tell.
    notes = [line.split() for line in stress_worker.runs.read_text(encoding="utf-8").splitlines()]
    runs = Counter(task_id for event, task_id in notes if event == "callback")
    assert runs == Counter(dict.fromkeys(expected, 1))
    duplicated = sum(event == "duplicate" for event, _ in notes)
    assert duplicated == (header_tasks // DUPLICATE_EVERY if duplicates else 0)
    counters = ChordCounterModel.objects.using(db_alias)
    assert counters.count() == CHORDS + 1
    assert set(counters.values_list("count", flat=True)) == {0}
    assert "Traceback" not in stress_worker.log.read_text(encoding="utf-8", errors="replace"), (
        stress_worker.log_tail()
    )
