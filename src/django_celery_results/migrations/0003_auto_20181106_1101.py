"""Newest results first by default (model options only, no schema change)."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    """Order task results by ``-date_done``."""

    dependencies = (("django_celery_results", "0002_add_task_name_args_kwargs"),)

    operations = (
        migrations.AlterModelOptions(
            name="taskresult",
            options={
                "ordering": ["-date_done"],
                "verbose_name": "task result",
                "verbose_name_plural": "task results",
            },
        ),
    )
