"""The results tables as the database itself reports them, and what they are expected to be.

``snapshot(connection)`` runs in the test process and, copied as a module next to the script
(``tests.oldpkg.run_django(..., modules=...)``), in other interpreters such as the old package's
venv, so both sides of a comparison describe their schema with the same code. It imports
nothing but the standard library; Django hands it the connection.

The recorded expectations are vendor-neutral: ``normalized`` reduces a snapshot to column
families, varchar widths and nullability, and ``old_end_state`` / ``end_state`` say what that
is after the old package's last migration (0014) and after ours (0015, 0016). ``changes`` lists what
one snapshot adds, removes or alters relative to another; ``OUR_ADDITIONS`` (via
``our_additions``) is the one difference ours may have: it only adds.
"""

from __future__ import annotations

import copy
from typing import Any

#: The old package's migration names, in order; ours begin with exactly these.
MIGRATIONS = [
    "0001_initial",
    "0002_add_task_name_args_kwargs",
    "0003_auto_20181106_1101",
    "0004_auto_20190516_0412",
    "0005_taskresult_worker",
    "0006_taskresult_date_created",
    "0007_remove_taskresult_hidden",
    "0008_chordcounter",
    "0009_groupresult",
    "0010_remove_duplicate_indices",
    "0011_taskresult_periodic_task_name",
    "0012_taskresult_date_started",
    "0013_taskresult_django_cele_periodi_1993cf_idx",
    "0014_alter_taskresult_status",
]

#: The old package's last migration: where a user who goes back to it migrates to first.
OLD_LAST = MIGRATIONS[-1]

#: Ours after the old package's: each only adds tables, columns and indexes.
OURS_ONLY = ["0015_chord_parts", "0016_chordcounter_callback"]

#: All of ours, in order.
OUR_MIGRATIONS = MIGRATIONS + OURS_ONLY

TABLES = (
    "django_celery_results_chordcounter",
    "django_celery_results_chordpart",
    "django_celery_results_groupresult",
    "django_celery_results_taskresult",
)


def _raw_columns(connection: Any, cursor: Any, table: str) -> dict[str, str]:
    # The type exactly as the database declares it (Django's introspection maps it to a field
    # class, which hides e.g. varchar widths on some backends).
    vendor = connection.vendor
    if vendor == "postgresql":
        cursor.execute(
            "SELECT column_name, data_type, character_maximum_length FROM "
            "information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s",
            [table],
        )
        return {
            name: f"{kind}({width})" if width else kind for name, kind, width in cursor.fetchall()
        }
    if vendor == "mysql":
        cursor.execute(
            "SELECT column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            [table],
        )
        return dict(cursor.fetchall())
    cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(table)})")
    return {row[1]: row[2] for row in cursor.fetchall()}


def snapshot(connection: Any) -> dict[str, Any]:
    """Columns (field type, declared type, nullability), unique sets and index names per table.

    Constraint names that a database invents on its own (SQLite's unnamed unique constraints,
    PostgreSQL's ``*_key`` and ``*_pkey``, MySQL's column-named uniques) are left out: the
    unique column sets say the same thing portably. Every named index is kept by name.
    """
    introspection = connection.introspection
    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        present = set(introspection.table_names(cursor))
        for table in TABLES:
            if table not in present:
                continue
            raw = _raw_columns(connection, cursor, table)
            columns = {}
            for info in introspection.get_table_description(cursor, table):
                columns[info.name] = {
                    "field": introspection.get_field_type(info.type_code, info),
                    "db_type": raw[info.name],
                    "null": bool(info.null_ok),
                }
            constraints = introspection.get_constraints(cursor, table)
            unique = sorted(
                c["columns"] for c in constraints.values() if c["unique"] and not c["primary_key"]
            )
            indexes = {
                name: c["columns"]
                for name, c in constraints.items()
                if c["index"] and not c["unique"] and not c["primary_key"]
            }
            primary_key = [c["columns"] for c in constraints.values() if c["primary_key"]]
            result[table] = {
                "columns": dict(sorted(columns.items())),
                "primary_key": primary_key,
                "unique": unique,
                "indexes": dict(sorted(indexes.items())),
            }
    return result


# --- Recorded expectations ---------------------------------------------------------------------
#
# A column is (family, varchar width or None, nullable). ``ID`` stands for the id width
# (DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH), filled in by the functions below.

ID = "ID"

#: table -> column -> (family, width, nullable): the old package's end state (0014).
_OLD_COLUMNS: dict[str, dict[str, tuple[str, Any, bool]]] = {
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

_OLD_UNIQUE = {
    "django_celery_results_taskresult": [["task_id"]],
    "django_celery_results_groupresult": [["group_id"]],
    "django_celery_results_chordcounter": [["group_id"]],
}

#: Non-unique indexes by name, on every database.
_OLD_INDEXES = {
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
_POSTGRES_PATTERN_INDEXES = {
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

#: What ours add after the old package's last migration, in the form ``changes`` reports:
#: 0015's table and the column and index on another, 0016's columns for chord recovery.
#: Nothing else may differ from the old package's schema.
OUR_ADDITIONS: dict[str, Any] = {
    "tables_added": {
        "django_celery_results_chordpart": {
            "columns": {
                "date_done": ("datetime", None, False),
                "group_id": ("varchar", ID, False),
                "id": ("auto", None, False),
                "task_id": ("varchar", ID, False),
            },
            "primary_key": [["id"]],
            "unique": [["group_id", "task_id"]],
            "indexes": {"dcr_chordpart_done_idx": ["date_done"]},
        },
    },
    "tables_changed": {
        "django_celery_results_chordcounter": {
            # Nullable: a counter the old package creates after a downgrade has no date.
            "columns_added": {
                "callback": ("text", None, True),
                "date_claimed": ("datetime", None, True),
                "date_created": ("datetime", None, True),
                "date_done": ("datetime", None, True),
            },
            "indexes_added": {"dcr_chordcounter_created_idx": ["date_created"]},
        },
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


def _with_width(value: Any, id_max: int) -> Any:
    # Replaces the ID placeholder in a column tuple (or in anything holding some) by the width.
    if value == ID:
        return id_max
    if isinstance(value, tuple):
        return tuple(_with_width(item, id_max) for item in value)
    if isinstance(value, dict):
        return {key: _with_width(item, id_max) for key, item in value.items()}
    return value


def old_end_state(vendor: str, id_max: int = 255) -> dict[str, Any]:
    """The old package's schema after its 0014, normalized (see ``normalized``) for ``vendor``."""
    expected: dict[str, Any] = {}
    for table, columns in _OLD_COLUMNS.items():
        indexes = dict(_OLD_INDEXES[table])
        if vendor == "postgresql":
            indexes.update(_POSTGRES_PATTERN_INDEXES[table])
        expected[table] = {
            "columns": dict(sorted(_with_width(columns, id_max).items())),
            "primary_key": [["id"]],
            "unique": _OLD_UNIQUE[table],
            "indexes": dict(sorted(indexes.items())),
        }
    return expected


def our_additions(id_max: int = 255) -> dict[str, Any]:
    """``OUR_ADDITIONS`` at id width ``id_max``."""
    additions: dict[str, Any] = _with_width(OUR_ADDITIONS, id_max)
    return additions


def end_state(vendor: str, id_max: int = 255) -> dict[str, Any]:
    """Our schema after our last migration: the old package's plus ``OUR_ADDITIONS``."""
    expected = copy.deepcopy(old_end_state(vendor, id_max))
    additions = our_additions(id_max)
    expected.update(copy.deepcopy(additions["tables_added"]))
    for table, change in additions["tables_changed"].items():
        shape = expected[table]
        shape["columns"] = dict(sorted({**shape["columns"], **change["columns_added"]}.items()))
        shape["indexes"] = dict(sorted({**shape["indexes"], **change["indexes_added"]}.items()))
    return expected


def normalized(found: dict[str, Any]) -> dict[str, Any]:
    """A snapshot with each column reduced to (family, varchar width or None, nullable).

    The declared types differ by vendor (``character varying(255)``, ``varchar(255)``,
    ``datetime(6)``, ``timestamp with time zone``); their family and width do not.
    """
    result: dict[str, Any] = {}
    for table, shape in found.items():
        columns = {}
        for name, column in shape["columns"].items():
            family = _FAMILIES.get(column["field"], column["field"])
            width = None
            declared = column["db_type"]
            if family == "varchar" and "(" in declared:
                width = int(declared[declared.index("(") + 1 : declared.index(")")])
            columns[name] = (family, width, column["null"])
        result[table] = {**shape, "columns": columns}
    return result


def _added_removed(before: Any, after: Any, name: str) -> dict[str, Any]:
    # For a dict: the keys only in ``after`` (with values), those only in ``before`` and those
    # in both whose values differ. For a list of lists (unique column sets): added and removed.
    found: dict[str, Any] = {}
    added: Any
    removed: Any
    if isinstance(before, dict):
        added = {key: after[key] for key in after if key not in before}
        removed = {key: before[key] for key in before if key not in after}
        changed = {
            key: [before[key], after[key]]
            for key in before
            if key in after and before[key] != after[key]
        }
        if changed:
            found[f"{name}_changed"] = changed
    else:
        added = [item for item in after if item not in before]
        removed = [item for item in before if item not in after]
    if added:
        found[f"{name}_added"] = added
    if removed:
        found[f"{name}_removed"] = removed
    return found


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What ``after`` adds, removes or alters relative to ``before`` (two normalized snapshots).

    ``tables_added`` / ``tables_removed`` hold whole tables; ``tables_changed`` holds, per table,
    ``columns_added`` / ``_removed`` / ``_changed``, ``unique_added`` / ``_removed``,
    ``indexes_added`` / ``_removed`` / ``_changed`` and ``primary_key_changed``. Empty entries
    are left out, so equal snapshots give ``{}``.
    """
    result: dict[str, Any] = {}
    added = {table: after[table] for table in after if table not in before}
    removed = sorted(table for table in before if table not in after)
    altered: dict[str, Any] = {}
    for table in sorted(set(before) & set(after)):
        old, new = before[table], after[table]
        change: dict[str, Any] = {}
        change.update(_added_removed(old["columns"], new["columns"], "columns"))
        change.update(_added_removed(old["unique"], new["unique"], "unique"))
        change.update(_added_removed(old["indexes"], new["indexes"], "indexes"))
        if old["primary_key"] != new["primary_key"]:
            change["primary_key_changed"] = [old["primary_key"], new["primary_key"]]
        if change:
            altered[table] = change
    if added:
        result["tables_added"] = added
    if removed:
        result["tables_removed"] = removed
    if altered:
        result["tables_changed"] = altered
    return result
