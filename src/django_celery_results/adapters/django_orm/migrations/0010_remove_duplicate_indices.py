"""Forget the redundant indexes on the unique id columns, dropping any that exist."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

#: (model, field, index name): indexes that duplicate a unique constraint.
REDUNDANT = [
    ("chordcounter", "group_id", "django_cele_group_i_299b0d_idx"),
    ("groupresult", "group_id", "django_cele_group_i_3cddec_idx"),
    ("taskresult", "task_id", "django_cele_task_id_7f8fca_idx"),
]


def drop_existing(apps: Any, schema_editor: Any) -> None:
    """Drop each redundant index that this database really has.

    0009 of current releases records them in the migration state only, but earlier releases of
    the old package created them, so both kinds of database arrive here. Asking the database
    first (instead of dropping and swallowing the error) keeps PostgreSQL's transaction usable.
    """
    connection = schema_editor.connection
    for model_name, field, name in REDUNDANT:
        model = apps.get_model("django_celery_results", model_name)
        with connection.cursor() as cursor:
            present = connection.introspection.get_constraints(cursor, model._meta.db_table)
        if name in present:
            schema_editor.remove_index(model, models.Index(fields=[field], name=name))


class Migration(migrations.Migration):
    """Remove the three redundant indexes from the state and from the database."""

    dependencies = (("django_celery_results", "0009_groupresult"),)

    operations = (
        migrations.SeparateDatabaseAndState(
            # Backwards, the indexes return to the state only, as 0009 put them there.
            database_operations=[migrations.RunPython(drop_existing, migrations.RunPython.noop)],
            state_operations=[
                migrations.RemoveIndex(model_name=model_name, name=name)
                for model_name, _field, name in REDUNDANT
            ],
        ),
    )
