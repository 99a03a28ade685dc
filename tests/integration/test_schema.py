"""The schema: the old package's up to its 0014, plus exactly what ours (0015, 0016) add.

The expectations are recorded in ``tests.schema_snapshot`` (``old_end_state``, ``end_state``,
``OUR_ADDITIONS``); the drop-in tests (``test_dropin_schema.py``) also compare with the schema
the old package itself creates.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from django_celery_results.adapters.django_orm.models import ID_MAX_LENGTH
from tests import deprecations, oldpkg, schema_snapshot
from tests.schema_snapshot import (
    MIGRATIONS,
    OLD_LAST,
    OUR_MIGRATIONS,
    changes,
    end_state,
    normalized,
    old_end_state,
    our_additions,
    snapshot,
)

APP = "django_celery_results"
REPO = Path(__file__).resolve().parents[2]

_MODULES = {"dcr_schema_snapshot": inspect.getsource(schema_snapshot)}

#: Migrates a fresh database to the old package's last migration, to ours, back to the old
#: one, to zero and up again, describing the schema after each step.
_JOURNEY = f"""
import json
from django.core.management import call_command
from django.db import connection
from dcr_schema_snapshot import snapshot

steps = {{}}
for step, target in [
    ("old_last", {OLD_LAST!r}),
    ("end", None),
    ("back_to_old_last", {OLD_LAST!r}),
    ("zero", "zero"),
    ("end_again", None),
]:
    args = ["migrate", {APP!r}] + ([target] if target else [])
    call_command(*args, verbosity=0)
    steps[step] = snapshot(connection)
print(json.dumps(steps))
"""


def test_migration_names_and_order() -> None:
    """The app has the old package's 14 migrations, then ours, each depending on the one before."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = sorted(name for app, name in loader.disk_migrations if app == APP)
    assert ours == OUR_MIGRATIONS
    assert OUR_MIGRATIONS[: len(MIGRATIONS)] == MIGRATIONS
    plan = loader.graph.forwards_plan((APP, OUR_MIGRATIONS[-1]))
    assert [name for app, name in plan if app == APP] == OUR_MIGRATIONS
    for previous, name in itertools.pairwise(OUR_MIGRATIONS):
        assert list(loader.disk_migrations[APP, name].dependencies) == [(APP, previous)]
    assert not loader.disk_migrations[APP, OUR_MIGRATIONS[0]].dependencies


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({}, id="AutoField"),
        pytest.param(
            {"TEST_DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField"}, id="BigAutoField"
        ),
        pytest.param({"DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH": "191"}, id="id-length-191"),
    ],
)
def test_models_match_migrations(env: dict[str, str], tmp_path: Path) -> None:
    """``makemigrations --check`` finds nothing to do, whatever DEFAULT_AUTO_FIELD and id width."""
    run_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TEST_DEFAULT_AUTO_FIELD", "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH")
    }
    run_env.update(
        env,
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(REPO),
        # Only SQLite: the check reads migration history, and a scratch file is enough.
        TEST_DATABASES="default",
        TEST_TMPDIR=str(tmp_path),
    )
    run_env = deprecations.environ(run_env)  # Django's deprecations are errors there too
    done = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run", APP],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes detected" in done.stdout


@pytest.mark.django_db(databases="__all__")
def test_test_database_is_at_our_end_state(db_alias: str) -> None:
    """The suite's own databases, built by our migrations, have the recorded end state."""
    connection = connections[db_alias]
    assert normalized(snapshot(connection)) == end_state(connection.vendor, ID_MAX_LENGTH)


@pytest.mark.parametrize("id_max", [255, 191], ids=["id-255", "id-191"])
def test_migrations_there_and_back(id_max: int, db_alias: str, tmp_path: Path) -> None:
    """On a fresh database at either id width, each step of the migrations has the right schema.

    At the old package's last migration the schema is the old package's; at our end it differs
    from that by exactly our additions; back at 0014 it is as before; down to zero drops
    every table; up again rebuilds the end state exactly.
    """
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        out = oldpkg.run_current(
            _JOURNEY,
            databases={"default": database},
            settings={"DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH": id_max},
            modules=_MODULES,
        )
    steps: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    vendor = connections[db_alias].vendor
    at_old_last = normalized(steps["old_last"])
    at_end = normalized(steps["end"])
    assert at_old_last == old_end_state(vendor, id_max)
    assert changes(at_old_last, at_end) == our_additions(id_max)
    assert at_end == end_state(vendor, id_max)
    assert steps["back_to_old_last"] == steps["old_last"]
    assert steps["zero"] == {}
    assert steps["end_again"] == steps["end"]


def test_changes_reports_every_kind_of_difference() -> None:
    """``changes`` is empty for equal schemas and names what was added, removed or altered."""
    before = old_end_state("sqlite")
    assert changes(before, before) == {}
    counter = our_additions()["tables_changed"]["django_celery_results_chordcounter"]
    assert changes(end_state("sqlite"), before) == {
        "tables_removed": ["django_celery_results_chordpart"],
        "tables_changed": {
            "django_celery_results_chordcounter": {
                "columns_removed": counter["columns_added"],
                "indexes_removed": counter["indexes_added"],
            }
        },
    }
    altered = old_end_state("sqlite")
    task = altered["django_celery_results_taskresult"]
    task["columns"]["status"] = ("varchar", 64, False)
    task["unique"] = []
    task["primary_key"] = [["task_id"]]
    assert changes(before, altered) == {
        "tables_changed": {
            "django_celery_results_taskresult": {
                "columns_changed": {"status": [("varchar", 50, False), ("varchar", 64, False)]},
                "unique_removed": [["task_id"]],
                "primary_key_changed": [[["id"]], [["task_id"]]],
            }
        }
    }
