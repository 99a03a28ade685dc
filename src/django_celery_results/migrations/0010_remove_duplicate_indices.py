"""Forget the redundant indexes on the unique id columns, dropping any that exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import migrations

if TYPE_CHECKING:
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.state import ProjectState

#: (model, index name): indexes that duplicate a unique constraint.
REDUNDANT = [
    ("chordcounter", "django_cele_group_i_299b0d_idx"),
    ("groupresult", "django_cele_group_i_3cddec_idx"),
    ("taskresult", "django_cele_task_id_7f8fca_idx"),
]


class TryRemoveIndex(migrations.RemoveIndex):
    """Remove an index from the state, and from the database only where the database has it.

    0009 of current releases records these indexes in the migration state only, but earlier
    releases of the old package created them, so both kinds of database arrive here. Asking
    the database first (instead of dropping and swallowing the error) keeps PostgreSQL's
    transaction usable. Backwards, the index returns to the state only, as 0009 put it there.
    The name is the old package's, for code that imports it.
    """

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        """Drop the index if this database really has it."""
        model = from_state.apps.get_model(app_label, self.model_name)
        connection = schema_editor.connection
        if not self.allow_migrate_model(connection.alias, model):
            return
        with connection.cursor() as cursor:
            present = connection.introspection.get_constraints(cursor, model._meta.db_table)
        if self.name in present:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        """Nothing: the unique constraint's index serves, as after 0009."""


class Migration(migrations.Migration):
    """Remove the three redundant indexes from the state and from the database."""

    dependencies = (("django_celery_results", "0009_groupresult"),)

    operations = tuple(
        TryRemoveIndex(model_name=model_name, name=name) for model_name, name in REDUNDANT
    )
