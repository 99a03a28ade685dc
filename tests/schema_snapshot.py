"""A vendor-aware snapshot of the results tables, as the database itself reports them.

``snapshot(connection)`` runs in the test process and, copied as a module next to the script
(``tests.oldpkg.run_django(..., modules=...)``), in other interpreters such as the old package's
venv, so both sides of a comparison describe their schema with the same code. It imports
nothing but the standard library; Django hands it the connection.
"""

from __future__ import annotations

from typing import Any

#: The old package's migration names, in order; ours must be exactly these.
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

TABLES = (
    "django_celery_results_chordcounter",
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
