"""A database the old package migrated (wholly or partly) continues under ours, and can go back.

Ours adds two migrations after the old package's last one (0015: the ``chordpart`` table and
``chordcounter.date_created``; 0016: three nullable ``chordcounter`` columns for chord
recovery). On a database the old package migrated, ours has exactly those to apply, keeps
every row, and ``migrate django_celery_results 0014`` undoes them so that the old package can
be installed again.

Each test builds its databases from scratch (``tests.oldpkg.scratch_database``): SQLite files,
and ``dcr_dropin_*`` databases on the PostgreSQL and MariaDB servers of ``tests.settings``. The
old package runs in its own venv (``tests.oldpkg``); ours runs in a fresh process too, so both
see a database exactly as a deployed project would.
"""

from __future__ import annotations

import datetime
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from tests import oldpkg, schema_snapshot
from tests.schema_snapshot import (
    MIGRATIONS,
    OLD_LAST,
    OUR_MIGRATIONS,
    OURS_ONLY,
    changes,
    normalized,
    our_additions,
)

APP = "django_celery_results"

#: Shared by both packages' scripts (written as ``dcr_dropin_probe.py`` next to each): what the
#: migration machinery says, and the rows, read through whichever package is installed.
_PROBE = '''
"""Describe the results app's migration state, schema and rows, in JSON-ready values."""
import io

from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from dcr_schema_snapshot import snapshot

APP = "django_celery_results"
MODELS = ("TaskResult", "GroupResult", "ChordCounter")


def showmigrations():
    """``manage.py showmigrations django_celery_results`` as [applied, name] pairs."""
    buffer = io.StringIO()
    call_command("showmigrations", APP, stdout=buffer, no_color=True)
    marks = []
    for line in buffer.getvalue().splitlines():
        line = line.strip()
        if line.startswith("["):
            marks.append([line[1] == "X", line[3:].strip()])
    return marks


def migrate_check():
    """The exit status of ``manage.py migrate --check django_celery_results`` (1: unapplied)."""
    try:
        call_command("migrate", APP, check_unapplied=True, verbosity=0)
    except SystemExit as exc:
        return exc.code
    return 0


def recorded():
    """The app's migrations that ``django_migrations`` records as applied."""
    applied = MigrationRecorder(connection).applied_migrations()
    return sorted(name for app, name in applied if app == APP)


def rows():
    """Every row of the three old tables, by model, in primary key order."""
    found = {}
    for name in MODELS:
        model = apps.get_model(APP, name)
        found[name] = [
            {key: value.isoformat() if hasattr(value, "isoformat") else value
             for key, value in row.items()}
            for row in model.objects.order_by("pk").values()
        ]
    return found


def report(with_rows=True):
    """Migration state, schema and (unless told otherwise) rows."""
    out = {
        "showmigrations": showmigrations(),
        "check": migrate_check(),
        "recorded": recorded(),
        "schema": snapshot(connection),
    }
    if with_rows:
        out["rows"] = rows()
    return out
'''

_MODULES = {
    "dcr_schema_snapshot": inspect.getsource(schema_snapshot),
    "dcr_dropin_probe": _PROBE,
}

#: The old package migrates and writes one row of each kind (two counters: one chord half
#: done, one just started), then describes the database.
_OLD_FILLS = """
import datetime
import json
from django.core.management import call_command
from django_celery_results.models import ChordCounter, GroupResult, TaskResult
from dcr_dropin_probe import report

call_command("migrate", "django_celery_results", verbosity=0)
started = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=datetime.timezone.utc)
TaskResult.objects.create(
    task_id="dropin-ok", task_name="proj.add", periodic_task_name="nightly",
    task_args="[1, 2]", task_kwargs="{'scale': 3}", status="SUCCESS", worker="celery@host",
    content_type="application/json", content_encoding="utf-8", result='{"sum": 9}',
    date_started=started, meta='{"children": []}',
)
TaskResult.objects.create(
    task_id="dropin-failed", task_name="proj.fail", status="FAILURE",
    content_type="application/json", content_encoding="utf-8",
    result='{"exc_type": "ValueError", "exc_message": ["no"], "exc_module": "builtins"}',
    traceback="Traceback (most recent call last):\\n  ValueError: no\\n",
)
GroupResult.objects.create(
    group_id="dropin-group", content_type="application/json", content_encoding="utf-8",
    result='[["dropin-ok", null], ["dropin-failed", null]]',
)
ChordCounter.objects.create(
    group_id="dropin-chord-half", sub_tasks='[[["a", null], null], [["b", null], null]]',
    count=1,
)
ChordCounter.objects.create(
    group_id="dropin-chord-new", sub_tasks='[[["c", null], null]]', count=1,
)
print(json.dumps(report()))
"""

#: Ours: what it finds, migrating (timed, to bound the counters' new dates), the result, then
#: going back to the old package's last migration.
_OURS_THERE_AND_BACK = f"""
import json
from django.core.management import call_command
from django.utils import timezone
from dcr_dropin_probe import report

# Our models describe columns the tables do not have yet (nor again, after going back): rows
# are read through them only once migrated.
out = {{"found": report(with_rows=False)}}
out["started"] = timezone.now().isoformat()
call_command("migrate", {APP!r}, verbosity=0)
out["finished"] = timezone.now().isoformat()
out["migrated"] = report()
call_command("migrate", {APP!r}, {OLD_LAST!r}, verbosity=0)
out["back"] = report(with_rows=False)
print(json.dumps(out))
"""

#: The old package, installed again: what it finds, and that it still writes and reads.
_OLD_AGAIN = """
import json
from django_celery_results.models import ChordCounter, TaskResult
from dcr_dropin_probe import report

out = {"found": report()}
TaskResult.objects.create(
    task_id="after-going-back", status="SUCCESS", content_type="application/json",
    content_encoding="utf-8", result="1",
)
ChordCounter.objects.create(group_id="chord-after-going-back", sub_tasks="[]", count=2)
out["written"] = report()
print(json.dumps(out))
"""

#: Ours on a fresh database: the schema at the old package's last migration and at our end.
_OURS_FRESH = f"""
import json
from django.core.management import call_command
from django.db import connection
from dcr_schema_snapshot import snapshot

call_command("migrate", {APP!r}, {OLD_LAST!r}, verbosity=0)
old_last = snapshot(connection)
call_command("migrate", {APP!r}, verbosity=0)
print(json.dumps({{"old_last": old_last, "end": snapshot(connection)}}))
"""

#: Prints what our migrations still had to do, then migrates, then describes the result.
_MIGRATE_AND_DESCRIBE = """
import json
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from dcr_schema_snapshot import snapshot

def pending():
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes("django_celery_results")
    return [migration.name for migration, _ in executor.migration_plan(targets)]

before = pending()
call_command("migrate", "django_celery_results", verbosity=0)
print(json.dumps({"pending": before, "left": pending(), "schema": snapshot(connection)}))
"""


@pytest.fixture(scope="module")
def old_python() -> Path:
    """The old package's venv (built once; skips when the registry is unreachable, off CI)."""
    return oldpkg.old_venv()


def _last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def _width(id_max: int) -> dict[str, Any]:
    return {"DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH": id_max}


def _ours(script: str, database: dict[str, Any], id_max: int = 255) -> Any:
    out = oldpkg.run_current(
        script, databases={"default": database}, settings=_width(id_max), modules=_MODULES
    )
    return _last_json(out)


def _old(script: str, database: dict[str, Any], id_max: int = 255) -> Any:
    out = oldpkg.run_old(
        script, databases={"default": database}, settings=_width(id_max), modules=_MODULES
    )
    return _last_json(out)


def _fresh(alias: str, tmp_path: Path, id_max: int = 255) -> dict[str, Any]:
    # Ours alone on an empty database: the schema at the old package's last migration and ours.
    with oldpkg.scratch_database(alias, tmp_path) as database:
        fresh: dict[str, Any] = _ours(_OURS_FRESH, database, id_max)
    return fresh


def _without(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key not in columns} for row in rows]


@pytest.mark.usefixtures("old_python")
@pytest.mark.parametrize("id_max", [255, 191], ids=["id-255", "id-191"])
def test_old_database_takes_0015_and_can_go_back(
    id_max: int, db_alias: str, tmp_path: Path
) -> None:
    """On the old package's migrated, filled database: ours alone apply, rows stay, 0014 undoes.

    Before: the schema is exactly the one ours builds up to 0014, and ours reports its own
    migrations as the unapplied ones. After ``migrate``: nothing is pending, the schema is a
    fresh one's and differs from the old package's by exactly our additions, every row reads
    back the same, and each chord counter got a creation date from the migration. After
    ``migrate django_celery_results 0014``: the schema and the migration history are the old
    package's again, which finds nothing to apply, reads every row and writes new ones.
    """
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        old = _old(_OLD_FILLS, database, id_max)
        ours = _ours(_OURS_THERE_AND_BACK, database, id_max)
        old_again = _old(_OLD_AGAIN, database, id_max)
    fresh = _fresh(db_alias, tmp_path, id_max)

    # The old package's database is, to the byte of each declared type, what ours builds to 0014.
    assert old["schema"] == fresh["old_last"]
    assert old["recorded"] == MIGRATIONS

    found = ours["found"]
    assert found["showmigrations"] == [[True, name] for name in MIGRATIONS] + [
        [False, name] for name in OURS_ONLY
    ]
    assert found["check"] == 1
    assert found["schema"] == old["schema"]

    migrated = ours["migrated"]
    assert migrated["showmigrations"] == [[True, name] for name in OUR_MIGRATIONS]
    assert migrated["check"] == 0
    assert migrated["recorded"] == OUR_MIGRATIONS
    assert migrated["schema"] == fresh["end"]
    assert changes(normalized(old["schema"]), normalized(migrated["schema"])) == our_additions(
        id_max
    )
    rows, before = migrated["rows"], old["rows"]
    assert rows["TaskResult"] == before["TaskResult"]
    assert rows["GroupResult"] == before["GroupResult"]
    recovery_columns = ("callback", "date_claimed", "date_done")
    assert (
        _without(rows["ChordCounter"], "date_created", *recovery_columns) == before["ChordCounter"]
    )
    # 0016's columns are empty on counters the old package wrote: nothing to recover there.
    assert all(row[name] is None for row in rows["ChordCounter"] for name in recovery_columns)
    started = datetime.datetime.fromisoformat(ours["started"])
    finished = datetime.datetime.fromisoformat(ours["finished"])
    for counter in rows["ChordCounter"]:
        assert counter["date_created"] is not None, counter
        assert started <= datetime.datetime.fromisoformat(counter["date_created"]) <= finished

    back = ours["back"]
    assert back["schema"] == old["schema"]
    assert back["recorded"] == MIGRATIONS
    assert back["showmigrations"] == found["showmigrations"]

    again = old_again["found"]
    assert again["check"] == 0
    assert again["showmigrations"] == [[True, name] for name in MIGRATIONS]
    assert again["recorded"] == MIGRATIONS
    assert again["schema"] == old["schema"]
    assert again["rows"] == old["rows"]
    written = old_again["written"]["rows"]
    assert written["TaskResult"][:-1] == old["rows"]["TaskResult"]
    assert written["TaskResult"][-1]["task_id"] == "after-going-back"
    assert written["ChordCounter"][:-1] == old["rows"]["ChordCounter"]
    assert written["ChordCounter"][-1]["group_id"] == "chord-after-going-back"


@pytest.mark.usefixtures("old_python")
def test_old_package_still_works_on_a_database_left_at_0015(db_alias: str, tmp_path: Path) -> None:
    """Downgrading without ``migrate ... 0014`` first: the old package still reads and writes.

    The extra table goes unused and the new columns are nullable, so the old package's inserts
    (which leave it out) succeed; its ``migrate --check`` finds nothing of its own to apply.
    """
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        old = _old(_OLD_FILLS, database)
        ours = _ours(_MIGRATE_AND_DESCRIBE, database)
        old_again = _old(_OLD_AGAIN, database)
    assert ours["pending"] == OURS_ONLY
    again = old_again["found"]
    assert again["check"] == 0
    assert again["showmigrations"] == [[True, name] for name in MIGRATIONS]
    assert again["recorded"] == OUR_MIGRATIONS
    assert again["rows"] == old["rows"]
    written = old_again["written"]["rows"]
    assert written["TaskResult"][-1]["task_id"] == "after-going-back"
    assert written["ChordCounter"][-1]["group_id"] == "chord-after-going-back"


_LEGACY_INDEXES = """
from django.db import connection, models
from django_celery_results.models import ChordCounter, GroupResult, TaskResult

# Releases before 2.4 created these three indexes for real in 0009; 0010 must drop them.
with connection.schema_editor() as editor:
    for model, field, name in [
        (ChordCounter, "group_id", "django_cele_group_i_299b0d_idx"),
        (GroupResult, "group_id", "django_cele_group_i_3cddec_idx"),
        (TaskResult, "task_id", "django_cele_task_id_7f8fca_idx"),
    ]:
        editor.add_index(model, models.Index(fields=[field], name=name))
"""

_ROW_BEFORE_DATE_CREATED = """
import datetime
from django.db import connection
from django.db.migrations.loader import MigrationLoader

loader = MigrationLoader(connection)
state = loader.project_state(("django_celery_results", "0005_taskresult_worker"))
TaskResult = state.apps.get_model("django_celery_results", "TaskResult")
TaskResult.objects.create(task_id="before-0006", status="SUCCESS", content_type="application/json",
                          content_encoding="utf-8", result="1")
# date_done is auto_now, so the past time is set with an update, which bypasses it.
done = datetime.datetime(2020, 2, 29, 12, 0, 0, tzinfo=datetime.timezone.utc)
TaskResult.objects.filter(task_id="before-0006").update(date_done=done)
"""

_READ_ROW = """
from django_celery_results.models import TaskResult
row = TaskResult.objects.get(task_id="before-0006")
print(row.date_created.isoformat(), row.date_done.isoformat(), row.status, row.result)
"""


@pytest.mark.usefixtures("old_python")
@pytest.mark.parametrize(
    "stop",
    ["0005_taskresult_worker", "0008_chordcounter", "0009_groupresult"],
)
def test_partly_migrated_old_database_continues(stop: str, db_alias: str, tmp_path: Path) -> None:
    """Old package up to ``stop``, ours after: the rest (to ours) applies; the schema is fresh.

    At 0005 a row written before ``date_created`` existed gets its ``date_done`` as creation time;
    at 0009 the redundant indexes that early releases created are dropped by our 0010.
    """
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        prepare = (
            "from django.core.management import call_command\n"
            f"call_command('migrate', 'django_celery_results', {stop!r}, verbosity=0)\n"
        )
        if stop == "0005_taskresult_worker":
            prepare += _ROW_BEFORE_DATE_CREATED
        if stop == "0009_groupresult":
            prepare += _LEGACY_INDEXES
        oldpkg.run_old(prepare, databases={"default": database})
        ours = _ours(_MIGRATE_AND_DESCRIBE, database)
        row = []
        if stop == "0005_taskresult_worker":
            row = oldpkg.run_current(_READ_ROW, databases={"default": database}).split()
    assert ours["pending"] == OUR_MIGRATIONS[OUR_MIGRATIONS.index(stop) + 1 :]
    assert ours["left"] == []
    assert ours["schema"] == _fresh(db_alias, tmp_path)["end"]
    if stop == "0005_taskresult_worker":
        assert row == [
            "2020-02-29T12:00:00+00:00",
            "2020-02-29T12:00:00+00:00",
            "SUCCESS",
            "1",
        ]
