"""Record which celery beat entry sent the task."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Add ``periodic_task_name``."""

    dependencies = (("django_celery_results", "0010_remove_duplicate_indices"),)

    operations = (
        migrations.AddField(
            model_name="taskresult",
            name="periodic_task_name",
            field=models.CharField(
                max_length=255,
                null=True,
                verbose_name="periodic task name",
                help_text="The celery beat schedule entry that sent the task, if any.",
            ),
        ),
    )
