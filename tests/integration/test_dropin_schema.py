"""A database the old package migrated (wholly or partly) continues under ours, schema identical.

Each test builds its databases from scratch (``tests.oldpkg.scratch_database``): SQLite files,
and ``dcr_dropin_*`` databases on the PostgreSQL and MariaDB servers of ``tests.settings``. The
old package runs in its own venv (``tests.oldpkg``); ours runs in a fresh process too, so both
see a database exactly as a deployed project would.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from tests import oldpkg, schema_snapshot
from tests.schema_snapshot import MIGRATIONS

_MODULES = {"dcr_schema_snapshot": inspect.getsource(schema_snapshot)}

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

_PENDING_FOR_OLD = """
import json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

executor = MigrationExecutor(connection)
targets = executor.loader.graph.leaf_nodes("django_celery_results")
print(json.dumps([migration.name for migration, _ in executor.migration_plan(targets)]))
"""


@pytest.fixture(scope="module")
def old_python() -> Path:
    """The old package's venv (built once; skips when the registry is unreachable, off CI)."""
    return oldpkg.old_venv()


def _ours(database: dict[str, Any]) -> dict[str, Any]:
    out = oldpkg.run_current(
        _MIGRATE_AND_DESCRIBE, databases={"default": database}, modules=_MODULES
    )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _old(script: str, database: dict[str, Any]) -> str:
    return oldpkg.run_old(script, databases={"default": database})


def _fresh_schema(alias: str, tmp_path: Path) -> dict[str, Any]:
    with oldpkg.scratch_database(alias, tmp_path) as database:
        fresh = _ours(database)
    assert fresh["pending"] == MIGRATIONS
    schema: dict[str, Any] = fresh["schema"]
    return schema


@pytest.mark.usefixtures("old_python")
def test_fully_migrated_old_database_needs_nothing(db_alias: str, tmp_path: Path) -> None:
    """After the old package's 0014, ours has nothing to apply and the schema is a fresh one's."""
    with oldpkg.scratch_database(alias=db_alias, tmp_dir=tmp_path) as database:
        _old(
            "from django.core.management import call_command\n"
            "call_command('migrate', 'django_celery_results', verbosity=0)\n",
            database,
        )
        ours = _ours(database)
        # ... and a user who goes back to the old package finds nothing to apply either.
        old_pending = json.loads(_old(_PENDING_FOR_OLD, database))
    assert ours["pending"] == []
    assert ours["left"] == []
    assert old_pending == []
    assert ours["schema"] == _fresh_schema(db_alias, tmp_path)


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
    """Old package up to ``stop``, ours after: the rest applies; the schema is a fresh one's.

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
        _old(prepare, database)
        ours = _ours(database)
        row = []
        if stop == "0005_taskresult_worker":
            row = oldpkg.run_current(_READ_ROW, databases={"default": database}).split()
    assert ours["pending"] == MIGRATIONS[MIGRATIONS.index(stop) + 1 :]
    assert ours["left"] == []
    assert ours["schema"] == _fresh_schema(db_alias, tmp_path)
    if stop == "0005_taskresult_worker":
        assert row == [
            "2020-02-29T12:00:00+00:00",
            "2020-02-29T12:00:00+00:00",
            "SUCCESS",
            "1",
        ]
