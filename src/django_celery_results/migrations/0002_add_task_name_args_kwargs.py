"""Record what was called: the task's name and its serialized arguments."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Add ``task_args``, ``task_kwargs`` and ``task_name`` to the task results."""

    dependencies = (("django_celery_results", "0001_initial"),)

    operations = (
        migrations.AddField(
            model_name="taskresult",
            name="task_args",
            field=models.TextField(
                null=True,
                verbose_name="positional arguments",
                help_text="The positional arguments of the call, serialized.",
            ),
        ),
        migrations.AddField(
            model_name="taskresult",
            name="task_kwargs",
            field=models.TextField(
                null=True,
                verbose_name="keyword arguments",
                help_text="The keyword arguments of the call, serialized.",
            ),
        ),
        # 255 here whatever the id setting says; 0004 gives the column the id width.
        migrations.AddField(
            model_name="taskresult",
            name="task_name",
            field=models.CharField(
                max_length=255,
                null=True,
                verbose_name="task name",
                help_text="The registered name of the task.",
            ),
        ),
    )
