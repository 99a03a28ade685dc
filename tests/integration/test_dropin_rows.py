"""Rows the old package wrote read back through ours, unchanged, and the other way round.

For each database of ``tests.settings`` and each of the JSON and pickle result serializers, a
fresh database (``tests.oldpkg.scratch_database``) is migrated and filled by one package with a
real Celery worker, then read by the other one through Celery's public API: ``AsyncResult``,
``GroupResult.restore`` and the ``ChordCounter`` model. Both packages run the same helper module
(``_SHARED`` below, written as ``dropin_tasks.py`` next to each script), so the writer and the
reader differ only in which ``django_celery_results`` is installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import oldpkg
from tests.schema_snapshot import MIGRATIONS

#: Tasks, filling and reading, shared by both packages (the old one runs it in its own venv).
_SHARED = '''
"""Drop-in row tests: the tasks, how a database is filled, and how it is read back."""
import time

from celery import Celery, chord, group
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Ignore
from celery.result import GroupResult

TIMEOUT = 30


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

#: Starts a chord with the old package, leaving its last member queued on disk.
_START_CHORD = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json", BROKER_DIR)
print(json.dumps(dropin_tasks.start_chord(app, HOSTNAME)))
"""

#: Runs the queued member and the callback of that chord with this package.
_FINISH_CHORD = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json", BROKER_DIR)
print(json.dumps(dropin_tasks.finish_chord(app, HOSTNAME, IDS)))
"""

OLD_WORKER = "old-worker@dropin"
OUR_WORKER = "our-worker@dropin"

PICKLE = "application/x-python-serialize"


def _script(body: str, **values: Any) -> str:
    """``body`` after one assignment per value, e.g. ``SERIALIZER = 'json'``."""
    return "".join(f"{name} = {value!r}\n" for name, value in values.items()) + body


def _last_json(output: str) -> dict[str, Any]:
    """The JSON object a script printed last (a worker may log above it)."""
    parsed: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return parsed


def _last_json_value(output: str) -> Any:
    """The JSON value a script printed last."""
    return json.loads(output.strip().splitlines()[-1])


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


@pytest.fixture(scope="module")
def old_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows the old package wrote (on a fresh database it migrated), as ours reads them."""
    return _exchange(
        oldpkg.run_old, oldpkg.run_current, OLD_WORKER, tmp_path_factory.mktemp("old-rows")
    )


@pytest.fixture(scope="module")
def our_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows ours wrote (on a fresh database it migrated), as the old package reads them."""
    return _exchange(
        oldpkg.run_current, oldpkg.run_old, OUR_WORKER, tmp_path_factory.mktemp("our-rows")
    )


@pytest.fixture(scope="module")
def rollback_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows the old package wrote on a database ours had migrated, as ours reads them."""
    return _exchange(
        oldpkg.run_old,
        oldpkg.run_current,
        OLD_WORKER,
        tmp_path_factory.mktemp("rollback-rows"),
        migrated_by=oldpkg.run_current,
    )


def _encoding(serializer: str) -> tuple[str, str]:
    return ("application/json", "utf-8") if serializer == "json" else (PICKLE, "binary")


# -- the old package's rows, read by ours --------------------------------------------------------


def test_migrate_on_old_database_applies_nothing(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """``migrate`` with ours on an old, filled database applies only ours beyond the old 0014."""
    exchange = old_rows(db_alias, serializer)
    assert exchange["pending"] == exchange["beyond_old"]
    assert not set(exchange["pending"]) & set(MIGRATIONS)


def test_old_success_reads_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """A SUCCESS with a dict result: status, result, name, args, worker and dates read back."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["success"]
    old = exchange["writer"]["tasks"]["success"]
    assert ours["status"] == "SUCCESS"
    assert ours["result"] == {"sum": 5, "inputs": [2, 3]}
    assert ours["traceback"] is None
    assert ours["name"] == "dropin.add"
    assert (ours["args"], ours["kwargs"]) == ("(2, 3)", "{}")
    # The thread pool gives the request the machine's name, not the worker's node name.
    assert ours["worker"] == ours["row"]["worker"] == old["worker"]
    assert ours["worker"]
    assert ours["date_done"] is not None
    assert ours["date_done"] == old["date_done"] == old["row"]["date_done"]
    assert ours["row"] == old["row"]
    assert (ours["row"]["content_type"], ours["row"]["content_encoding"]) == _encoding(serializer)


def test_old_extended_fields_read_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """args, kwargs, worker, task name and periodic_task_name of an old row read back."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["extended"]
    assert ours["status"] == "SUCCESS"
    assert ours["result"] == {"sum": 90, "inputs": [4, 5]}
    assert ours["name"] == ours["row"]["task_name"] == "dropin.add"
    assert ours["args"] == "(4, 5)"
    assert ours["kwargs"] == "{'scale': 10}"
    assert ours["worker"] == ours["row"]["worker"]
    assert ours["row"]["periodic_task_name"] == "nightly-report"
    assert ours["row"]["date_started"] is not None
    assert ours == {**exchange["writer"]["tasks"]["extended"], "name": "dropin.add"}


def test_old_failure_reraises_the_same_exception(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """An old FAILURE re-raises its exception's type and message, with the same traceback."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["failure"]
    error = {"exception": "dropin_tasks.DropinError", "args": ["boom: 42"]}
    assert ours["status"] == "FAILURE"
    assert ours["result"] == error
    assert exchange["reader"]["raised"] == error
    assert ours["traceback"] is not None
    assert "DropinError: boom: 42" in ours["traceback"]
    assert ours["traceback"] == exchange["writer"]["tasks"]["failure"]["traceback"]
    assert (ours["name"], ours["args"]) == ("dropin.fail", "('boom: 42',)")


def test_old_started_reads_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """An old STARTED row reads as STARTED with the worker's pid/hostname meta and start date."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["started"]
    assert ours["status"] == "STARTED"
    assert ours["result"]["hostname"] == OLD_WORKER
    assert isinstance(ours["result"]["pid"], int)
    assert ours["row"]["date_started"] is not None
    assert ours["name"] == "dropin.stay_started"


def test_old_group_restores_and_joins(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """GroupResult.restore of an old saved group gives its 3 members; join() their results."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["group"]
    assert ours["id"] == exchange["ids"]["group"]
    assert ours["members"] == exchange["ids"]["group_members"]
    assert ours["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert exchange["reader"]["unknown_group"] is True
    assert exchange["reader"]["unknown"] == "PENDING"


def test_old_chord_counter_restores_the_header(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """An old chord in progress: ChordCounter.group_result() gives the header and its states."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["chord"]
    assert ours["id"] == exchange["ids"]["chord"]
    assert ours["members"] == exchange["ids"]["chord_members"]
    assert ours["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    assert ours["count"] == 1
    assert ours["body"] == "PENDING"


def test_old_and_ours_read_old_rows_alike(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """Ours reads the old rows as the old package itself does (except the name it never read)."""
    exchange = old_rows(db_alias, serializer)
    ours, old = exchange["reader"], exchange["writer"]
    for name, task in old["tasks"].items():
        assert ours["tasks"][name] == {**task, "name": ours["tasks"][name]["name"]}, name
    assert {k: v for k, v in ours.items() if k != "tasks"} == {
        k: v for k, v in old.items() if k != "tasks"
    }


# -- our rows, read by the old package ----------------------------------------------------------


def test_our_rows_read_back_through_the_old_package(
    our_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """Rows ours wrote read back through the old package: states, results, errors, groups."""
    exchange = our_rows(db_alias, serializer)
    old, ours = exchange["reader"], exchange["writer"]
    assert exchange["pending"] == exchange["beyond_old"] == []
    tasks = old["tasks"]
    assert [tasks[name]["status"] for name in ("success", "extended", "failure", "started")] == [
        "SUCCESS",
        "SUCCESS",
        "FAILURE",
        "STARTED",
    ]
    assert tasks["success"]["result"] == {"sum": 5, "inputs": [2, 3]}
    assert tasks["extended"]["result"] == {"sum": 90, "inputs": [4, 5]}
    assert (tasks["extended"]["args"], tasks["extended"]["kwargs"]) == ("(4, 5)", "{'scale': 10}")
    assert tasks["extended"]["worker"] == ours["tasks"]["extended"]["row"]["worker"]
    error = {"exception": "dropin_tasks.DropinError", "args": ["boom: 42"]}
    assert tasks["failure"]["result"] == old["raised"] == error
    assert tasks["failure"]["traceback"] == ours["tasks"]["failure"]["traceback"]
    assert tasks["started"]["result"]["hostname"] == OUR_WORKER
    assert old["group"]["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert old["chord"]["members"] == exchange["ids"]["chord_members"]
    assert old["chord"]["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    for name, task in ours["tasks"].items():
        # The old package never filled AsyncResult.name (its meta had no "name" key).
        assert tasks[name] == {**task, "name": None}, name
    assert {k: v for k, v in old.items() if k != "tasks"} == {
        k: v for k, v in ours.items() if k != "tasks"
    }


# -- across the upgrade ---------------------------------------------------------------------------


def test_chord_started_by_the_old_package_is_finished_by_ours(
    old_python: Path, db_alias: str, tmp_path: Path
) -> None:
    """A chord in flight at the upgrade: ours counts the old counter down and runs the callback."""
    broker = tmp_path / "broker"
    broker.mkdir()
    (tmp_path / "broker-control").mkdir()
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        dbs = {"default": database}
        ids = _last_json(
            oldpkg.run_old(
                _script(_START_CHORD, BROKER_DIR=str(broker), HOSTNAME=OLD_WORKER),
                databases=dbs,
                modules=_MODULES,
            )
        )
        done = _last_json(
            oldpkg.run_current(
                _script(_FINISH_CHORD, BROKER_DIR=str(broker), HOSTNAME=OUR_WORKER, IDS=ids),
                databases=dbs,
                modules=_MODULES,
            )
        )
    assert done["body"] == [{"sum": 10 + i, "inputs": [10, i]} for i in (1, 2, 3)]
    # Deleted (as the old package did) or kept at zero until it expires: never still counting.
    assert done["counter_left"] in (None, 0)


_DATE_DONE_WITHOUT_USE_TZ = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json")
if WRITE:
    app.backend.store_result("naive-clock", {"a": 1}, "SUCCESS")
print(json.dumps(app.AsyncResult("naive-clock").date_done.isoformat()))
"""


def test_date_done_without_use_tz_is_naive_as_before(
    old_python: Path, db_alias: str, tmp_path: Path
) -> None:
    """With USE_TZ=False, AsyncResult.date_done of an old row is the naive datetime it was."""
    settings = {"USE_TZ": False, "TIME_ZONE": "Europe/Paris"}
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        dbs = {"default": database}
        old = _last_json_value(
            oldpkg.run_old(
                _script(_DATE_DONE_WITHOUT_USE_TZ, WRITE=True),
                databases=dbs,
                settings=settings,
                modules=_MODULES,
            )
        )
        ours = _last_json_value(
            oldpkg.run_current(
                _script(_DATE_DONE_WITHOUT_USE_TZ, WRITE=False),
                databases=dbs,
                settings=settings,
                modules=_MODULES,
            )
        )
    assert "+" not in old  # naive: no UTC offset
    assert ours == old


def test_old_package_still_writes_after_our_migrations(
    rollback_rows: Exchange, db_alias: str
) -> None:
    """Going back to the old package after ours migrated: it still stores tasks, groups, chords.

    Migrations of ours beyond the old 0014 must leave every column the old package does not
    know nullable or defaulted in the database itself, or its inserts fail.
    """
    exchange = rollback_rows(db_alias, "json")
    ours = exchange["reader"]
    assert exchange["pending"] == []
    assert [ours["tasks"][name]["status"] for name in ("success", "failure", "started")] == [
        "SUCCESS",
        "FAILURE",
        "STARTED",
    ]
    assert ours["group"]["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert ours["chord"]["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    assert ours["chord"]["count"] == 1
