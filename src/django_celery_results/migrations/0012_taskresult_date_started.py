"""Record when a worker started the task."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Add ``date_started``."""

    dependencies = (("django_celery_results", "0011_taskresult_periodic_task_name"),)

    operations = (
        migrations.AddField(
            model_name="taskresult",
            name="date_started",
            field=models.DateTimeField(
                null=True,
                default=None,
                verbose_name="started at",
                help_text="When a worker started the task.",
            ),
        ),
    )
