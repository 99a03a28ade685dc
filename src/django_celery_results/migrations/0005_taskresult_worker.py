"""Record which worker ran the task."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Add the indexed ``worker`` column."""

    dependencies = (("django_celery_results", "0004_auto_20190516_0412"),)

    operations = (
        migrations.AddField(
            model_name="taskresult",
            name="worker",
            field=models.CharField(
                max_length=100,
                null=True,
                default=None,
                db_index=True,
                verbose_name="worker",
                help_text="The hostname of the worker that ran the task.",
            ),
        ),
    )
