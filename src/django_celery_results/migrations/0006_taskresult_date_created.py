"""Record when a task's first state was stored; existing rows take their ``date_done``."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def backfill_date_created(apps: Any, schema_editor: Any) -> None:
    """Give the rows stored before this column existed the best creation time known."""
    task_result = apps.get_model("django_celery_results", "TaskResult")
    task_result.objects.using(schema_editor.connection.alias).update(
        date_created=models.F("date_done")
    )


def leave_date_created(apps: Any, schema_editor: Any) -> None:
    """Nothing to undo: unapplying this migration drops the column the backfill wrote."""


# The old package's names for the two steps, kept for code that imports them from here.
copy_date_done_to_date_created = backfill_date_created
reverse_copy_date_done_to_date_created = leave_date_created


class Migration(migrations.Migration):
    """Add the indexed ``date_created`` column and backfill it."""

    dependencies = (("django_celery_results", "0005_taskresult_worker"),)

    operations = (
        # An auto_now_add column has "now" as its effective default, so existing rows get the
        # migration time first; the backfill then replaces it.
        migrations.AddField(
            model_name="taskresult",
            name="date_created",
            field=models.DateTimeField(
                auto_now_add=True,
                db_index=True,
                verbose_name="created at",
                help_text="When the first state of the task was stored.",
            ),
        ),
        migrations.RunPython(backfill_date_created, leave_date_created),
    )
