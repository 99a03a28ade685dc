"""The schema is the old package's: migration names, model state, tables on each database."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from django_celery_results.adapters.django_orm.models import ID_MAX_LENGTH
from tests.schema_snapshot import MIGRATIONS, snapshot

APP = "django_celery_results"
REPO = Path(__file__).resolve().parents[2]


ID = ID_MAX_LENGTH

#: table -> column -> (type family, varchar width, nullable): the old package's end state.
COLUMNS: dict[str, dict[str, tuple[str, int | None, bool]]] = {
    "django_celery_results_taskresult": {
        "id": ("auto", None, False),
        "task_id": ("varchar", ID, False),
        "periodic_task_name": ("varchar", 255, True),
        "task_name": ("varchar", ID, True),
        "task_args": ("text", None, True),
        "task_kwargs": ("text", None, True),
        "status": ("varchar", 50, False),
        "worker": ("varchar", 100, True),
        "content_type": ("varchar", 128, False),
        "content_encoding": ("varchar", 64, False),
        "result": ("text", None, True),
        "date_created": ("datetime", None, False),
        "date_started": ("datetime", None, True),
        "date_done": ("datetime", None, False),
        "traceback": ("text", None, True),
        "meta": ("text", None, True),
    },
    "django_celery_results_groupresult": {
        "id": ("auto", None, False),
        "group_id": ("varchar", ID, False),
        "date_created": ("datetime", None, False),
        "date_done": ("datetime", None, False),
        "content_type": ("varchar", 128, False),
        "content_encoding": ("varchar", 64, False),
        "result": ("text", None, True),
    },
    "django_celery_results_chordcounter": {
        "id": ("auto", None, False),
        "group_id": ("varchar", ID, False),
        "sub_tasks": ("text", None, False),
        "count": ("integer", None, False),
    },
}

UNIQUE = {
    "django_celery_results_taskresult": [["task_id"]],
    "django_celery_results_groupresult": [["group_id"]],
    "django_celery_results_chordcounter": [["group_id"]],
}

#: Non-unique indexes by name, on every database.
INDEXES = {
    "django_celery_results_taskresult": {
        "django_cele_task_na_08aec9_idx": ["task_name"],
        "django_cele_status_9b6201_idx": ["status"],
        "django_cele_worker_d54dd8_idx": ["worker"],
        "django_cele_date_cr_f04a50_idx": ["date_created"],
        "django_cele_date_do_f59aad_idx": ["date_done"],
        "django_cele_periodi_1993cf_idx": ["periodic_task_name"],
    },
    "django_celery_results_groupresult": {
        "django_cele_date_cr_bd6c1d_idx": ["date_created"],
        "django_cele_date_do_caae0e_idx": ["date_done"],
    },
    "django_celery_results_chordcounter": {},
}

#: PostgreSQL also has Django's ``varchar_pattern_ops`` index on each unique varchar column
#: (for LIKE queries), named by Django from the table and column.
POSTGRES_PATTERN_INDEXES = {
    "django_celery_results_taskresult": {
        "django_celery_results_taskresult_task_id_de0d95bf_like": ["task_id"]
    },
    "django_celery_results_groupresult": {
        "django_celery_results_groupresult_group_id_a085f1a9_like": ["group_id"]
    },
    "django_celery_results_chordcounter": {
        "django_celery_results_chordcounter_group_id_1f70858c_like": ["group_id"]
    },
}

_FAMILIES = {
    "AutoField": "auto",
    "CharField": "varchar",
    "TextField": "text",
    "DateTimeField": "datetime",
    # PostgreSQL has no unsigned integers; Django keeps ``count >= 0`` as a CHECK instead.
    "PositiveIntegerField": "integer",
    "IntegerField": "integer",
}


def _expected(vendor: str) -> dict[str, Any]:
    expected: dict[str, Any] = {}
    for table, columns in COLUMNS.items():
        indexes = dict(INDEXES[table])
        if vendor == "postgresql":
            indexes.update(POSTGRES_PATTERN_INDEXES[table])
        expected[table] = {
            "columns": dict(sorted(columns.items())),
            "primary_key": [["id"]],
            "unique": UNIQUE[table],
            "indexes": dict(sorted(indexes.items())),
        }
    return expected


def _normalized(found: dict[str, Any]) -> dict[str, Any]:
    normalized: dict[str, Any] = {}
    for table, shape in found.items():
        columns = {}
        for name, column in shape["columns"].items():
            family = _FAMILIES.get(column["field"], column["field"])
            width = re.search(r"\((\d+)\)", column["db_type"]) if family == "varchar" else None
            columns[name] = (family, int(width.group(1)) if width else None, column["null"])
        normalized[table] = {**shape, "columns": columns}
    return normalized


def test_migration_names_and_order() -> None:
    """The app has exactly the old package's 14 migrations, each depending on the one before."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = sorted(name for app, name in loader.disk_migrations if app == APP)
    assert ours == MIGRATIONS
    plan = loader.graph.forwards_plan((APP, MIGRATIONS[-1]))
    assert [name for app, name in plan if app == APP] == MIGRATIONS
    for previous, name in itertools.pairwise(MIGRATIONS):
        assert loader.disk_migrations[APP, name].dependencies == [(APP, previous)]
    assert loader.disk_migrations[APP, MIGRATIONS[0]].dependencies == []


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
def test_schema_matches_old_package(db_alias: str) -> None:
    """Columns, widths, nullability, unique columns and index names are the old package's."""
    connection = connections[db_alias]
    assert _normalized(snapshot(connection)) == _expected(connection.vendor)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_migrate_to_zero_and_back(db_alias: str) -> None:
    """Every migration reverses: down to zero drops the tables, up again rebuilds them exactly."""
    connection = connections[db_alias]
    before = snapshot(connection)
    try:
        call_command("migrate", APP, "zero", database=db_alias, verbosity=0)
        assert snapshot(connection) == {}
    finally:
        call_command("migrate", APP, database=db_alias, verbosity=0)
    after = snapshot(connection)
    assert after == before
    assert _normalized(after) == _expected(connection.vendor)
