"""What the drop-in row tests share: the code both packages run, and one exchange of rows.

For each database of ``tests.settings`` and each of the JSON and pickle result serializers, a
fresh database (``tests.oldpkg.scratch_database``) is migrated and filled by one package with a
real Celery worker, then read by the other one through Celery's public API: ``AsyncResult``,
``GroupResult.restore`` and the ``ChordCounter`` model. Both packages run the same helper module
(``_SHARED`` below, written as ``dropin_tasks.py`` next to each script), so the writer and the
reader differ only in which ``django_celery_results`` is installed. The tests are
``test_dropin_*.py``; the underscored names are theirs alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import oldpkg
from tests.schema_snapshot import MIGRATIONS

__all__ = [
    "OLD_WORKER",
    "OUR_WORKER",
    "_MODULES",
    "Exchange",
    "_exchange",
    "_last_json",
    "_script",
    "old_python",
    "serializer",
]

#: Tasks, filling and reading, shared by both packages (the old one runs it in its own venv).
_SHARED = '''
"""Drop-in row tests: the tasks, how a database is filled, and how it is read back."""
import contextlib
import time
from unittest import mock

from celery import Celery, chord, group
from celery.contrib.testing import worker as testing_worker
from celery.exceptions import Ignore
from celery.result import GroupResult

TIMEOUT = 30


@contextlib.contextmanager
def start_worker(app, hostname, **kwargs):
    """Celery's test worker, named ``hostname``.

    Celery < 5.5 passes ``hostname=anon_nodename()`` itself and rejects a second ``hostname=``
    ("got multiple values for keyword argument"); naming the worker through ``anon_nodename``
    works on every Celery.
    """
    with mock.patch.object(testing_worker, "anon_nodename", return_value=hostname):
        with testing_worker.start_worker(app, **kwargs) as worker:
            yield worker


class DropinError(Exception):
    """The exception the failing task raises (a class of our own, not a builtin)."""


def make_app(serializer, broker_dir=None):
    """A django-db app with result_extended, storing results with ``serializer``.

    The broker is in memory, or kombu's file-system transport in ``broker_dir`` when a message
    must outlive the process that sent it.
    """
    app = Celery("dropin", set_as_current=True)
    if broker_dir is not None:
        app.conf.update(
            broker_url="filesystem://",
            broker_transport_options={
                "data_folder_in": broker_dir,
                "data_folder_out": broker_dir,
                "control_folder": broker_dir + "-control",
                "store_processed": False,
            },
        )
    else:
        app.conf.broker_url = "memory://"
    app.conf.update(
        result_backend="django-db",
        result_extended=True,
        result_serializer=serializer,
        result_accept_content=["json", "pickle"],
        task_track_started=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=False,
    )

    @app.task(name="dropin.add")
    def add(x, y, scale=1):
        return {"sum": (x + y) * scale, "inputs": [x, y]}

    @app.task(name="dropin.fail")
    def fail(message):
        raise DropinError(message)

    @app.task(name="dropin.stay_started")
    def stay_started():
        # Ignore: the worker stores STARTED (track_started) and nothing after it, and a chord
        # header member that ends this way never counts down its chord.
        raise Ignore()

    @app.task(name="dropin.collect")
    def collect(values):
        return values

    return app


def _wait(condition, what):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def fill(app, hostname):
    """Run every kind of task on a real worker; return the ids of what it stored."""
    from django_celery_results.models import ChordCounter

    add, fail = app.tasks["dropin.add"], app.tasks["dropin.fail"]
    stay, collect = app.tasks["dropin.stay_started"], app.tasks["dropin.collect"]
    # One thread: the old package's chord count is not atomic on SQLite.
    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10,
        hostname=hostname,
    ):
        success = add.delay(2, 3)
        extended = add.apply_async(
            (4, 5), {"scale": 10}, headers={"periodic_task_name": "nightly-report"}
        )
        failure = fail.delay("boom: 42")
        started = stay.delay()
        members = group(add.s(i, i) for i in range(3)).delay()
        members.save()
        body = chord([add.s(10, 1), add.s(10, 2), stay.s()])(collect.s())
        header = body.parent
        success.get(timeout=TIMEOUT)
        extended.get(timeout=TIMEOUT)
        failure.get(timeout=TIMEOUT, propagate=False)
        members.join(timeout=TIMEOUT)
        _wait(lambda: app.AsyncResult(started.id).state == "STARTED", "the STARTED task")
        _wait(
            lambda: ChordCounter.objects.filter(group_id=header.id, count=1).exists(),
            "the chord counter to reach 1",
        )
        _wait(lambda: app.AsyncResult(header.results[2].id).state == "STARTED", "chord member")
    return {
        "tasks": {
            "success": success.id,
            "extended": extended.id,
            "failure": failure.id,
            "started": started.id,
        },
        "group": members.id,
        "group_members": [r.id for r in members.results],
        "chord": header.id,
        "chord_members": [r.id for r in header.results],
        "chord_body": body.id,
    }


def start_chord(app, hostname):
    """Send a chord whose last header task waits in the "later" queue; return the ids.

    The worker here consumes only the default queue, so the chord's counter is left at 1 and
    the last member's message stays with the broker for another process.
    """
    from django_celery_results.models import ChordCounter

    add, collect = app.tasks["dropin.add"], app.tasks["dropin.collect"]
    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10,
        hostname=hostname, queues=["celery"],
    ):
        header = [add.s(10, 1), add.s(10, 2), add.s(10, 3).set(queue="later")]
        body = chord(header)(collect.s())
        group_id = body.parent.id
        _wait(
            lambda: ChordCounter.objects.filter(group_id=group_id, count=1).exists(),
            "the chord counter to reach 1",
        )
    return {"chord": group_id, "body": body.id}


def finish_chord(app, hostname, ids):
    """Run the chord's last member and its callback; return the callback's result."""
    from django_celery_results.models import ChordCounter

    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10,
        hostname=hostname, queues=["celery", "later"],
    ):
        value = app.AsyncResult(ids["body"]).get(timeout=TIMEOUT)
    left = ChordCounter.objects.filter(group_id=ids["chord"]).first()
    return {"body": value, "counter_left": None if left is None else left.count}


def _iso(value):
    return None if value is None else value.isoformat()


def _describe(value):
    if isinstance(value, BaseException):
        kind = type(value)
        return {"exception": kind.__module__ + "." + kind.__qualname__, "args": list(value.args)}
    return value


def _task(app, task_id):
    from django_celery_results.models import TaskResult

    result = app.AsyncResult(task_id)
    row = TaskResult.objects.get(task_id=task_id)
    return {
        "status": result.status,
        "result": _describe(result.result),
        "traceback": result.traceback,
        "name": result.name,
        "args": result.args,
        "kwargs": result.kwargs,
        "worker": result.worker,
        "date_done": _iso(result.date_done),
        "row": {
            "task_name": row.task_name,
            "worker": row.worker,
            "periodic_task_name": row.periodic_task_name,
            "content_type": row.content_type,
            "content_encoding": row.content_encoding,
            "date_started": _iso(row.date_started),
            "date_done": _iso(row.date_done),
        },
    }


def view(app, ids):
    """Everything the tests compare, read through Celery's API and the public models."""
    from django_celery_results.models import ChordCounter

    failure = app.AsyncResult(ids["tasks"]["failure"])
    try:
        failure.get(timeout=TIMEOUT)
        raised = None
    except Exception as exc:
        raised = _describe(exc)
    restored = GroupResult.restore(ids["group"], app=app)
    counter = ChordCounter.objects.get(group_id=ids["chord"])
    header = counter.group_result(app=app)
    return {
        "tasks": {name: _task(app, task_id) for name, task_id in ids["tasks"].items()},
        "raised": raised,
        "group": {
            "id": restored.id,
            "members": [r.id for r in restored.results],
            "join": restored.join(timeout=TIMEOUT),
        },
        "chord": {
            "id": header.id,
            "count": counter.count,
            "members": [r.id for r in header.results],
            "states": [r.state for r in header.results],
            "body": app.AsyncResult(ids["chord_body"]).state,
        },
        "unknown": app.AsyncResult("dropin-never-stored").state,
        "unknown_group": GroupResult.restore("dropin-never-saved", app=app) is None,
    }
'''

_MODULES = {"dropin_tasks": _SHARED}

#: Sets ``PENDING``, the migrations of the app that ``migrate`` still has to apply, and
#: ``BEYOND_OLD``, those of the running package that the old one never had (``OLD_MIGRATIONS``).
_PENDING = """
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

_executor = MigrationExecutor(connection)
_targets = _executor.loader.graph.leaf_nodes("django_celery_results")
PENDING = [migration.name for migration, _ in _executor.migration_plan(_targets)]
BEYOND_OLD = [
    name
    for app_label, name in _executor.loader.graph.forwards_plan(_targets[0])
    if app_label == "django_celery_results" and name not in OLD_MIGRATIONS
]
"""

#: Migrates (the script's package), fills with a worker, prints the ids and its own reading.
_WRITE = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app(SERIALIZER)
ids = dropin_tasks.fill(app, HOSTNAME)
print(json.dumps({"ids": ids, "view": dropin_tasks.view(app, ids)}))
"""

#: Migrates what is left (none of the old migrations) and prints its reading of ``IDS``.
_READ = (
    _PENDING
    + """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app(SERIALIZER)
view = dropin_tasks.view(app, IDS)
print(json.dumps({"pending": PENDING, "beyond_old": BEYOND_OLD, "view": view}))
"""
)

_MIGRATE = """
from django.core.management import call_command

call_command("migrate", verbosity=0)
"""

OLD_WORKER = "old-worker@dropin"
OUR_WORKER = "our-worker@dropin"


def _script(body: str, **values: Any) -> str:
    """``body`` after one assignment per value, e.g. ``SERIALIZER = 'json'``."""
    return "".join(f"{name} = {value!r}\n" for name, value in values.items()) + body


def _last_json(output: str) -> dict[str, Any]:
    """The JSON object a script printed last (a worker may log above it)."""
    parsed: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return parsed


Exchange = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def old_python() -> Path:
    """The old package's venv (built once; skips when the registry is unreachable, off CI)."""
    return oldpkg.old_venv()


@pytest.fixture(params=["json", "pickle"])
def serializer(request: pytest.FixtureRequest) -> str:
    """Each result serializer in turn: JSON (utf-8 text) and pickle (binary, stored as base64)."""
    name: str = request.param
    return name


def _exchange(
    writer: Callable[..., str],
    reader: Callable[..., str],
    writer_host: str,
    tmp: Path,
    *,
    migrated_by: Callable[..., str] | None = None,
) -> Exchange:
    """Per (alias, serializer), once per module: write with one package, read with the other.

    ``migrated_by`` migrates the fresh database first (e.g. ours, before the old package
    writes: a project that went back after upgrading).
    """
    done: dict[tuple[str, str], dict[str, Any] | Exception] = {}

    def run(alias: str, serializer: str) -> dict[str, Any]:
        if (alias, serializer) not in done:
            try:
                done[alias, serializer] = exchange(alias, serializer)
            except Exception as exc:
                # Every test of this pair fails with the one error, without rerunning both sides.
                done[alias, serializer] = exc
        outcome = done[alias, serializer]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def exchange(alias: str, serializer: str) -> dict[str, Any]:
        with oldpkg.scratch_database(alias, tmp) as database:
            dbs = {"default": database}
            if migrated_by is not None:
                migrated_by(_MIGRATE, databases=dbs)
            written = _last_json(
                writer(
                    _script(_WRITE, SERIALIZER=serializer, HOSTNAME=writer_host),
                    databases=dbs,
                    modules=_MODULES,
                )
            )
            read = _last_json(
                reader(
                    _script(
                        _READ,
                        SERIALIZER=serializer,
                        IDS=written["ids"],
                        OLD_MIGRATIONS=MIGRATIONS,
                    ),
                    databases=dbs,
                    modules=_MODULES,
                )
            )
        return {
            "ids": written["ids"],
            "writer": written["view"],
            "reader": read["view"],
            "pending": read["pending"],
            "beyond_old": read["beyond_old"],
        }

    return run
