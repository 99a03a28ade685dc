"""Index the columns the admin and expiry filter on; ``task_name`` gets the id width."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models

ID_MAX_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)

CLASSIC_STATES = [
    ("FAILURE", "FAILURE"),
    ("PENDING", "PENDING"),
    ("RECEIVED", "RECEIVED"),
    ("RETRY", "RETRY"),
    ("REVOKED", "REVOKED"),
    ("STARTED", "STARTED"),
    ("SUCCESS", "SUCCESS"),
]


class Migration(migrations.Migration):
    """Add single-column indexes on ``date_done``, ``status``, ``task_id`` and ``task_name``."""

    dependencies = (("django_celery_results", "0003_auto_20181106_1101"),)

    # Kept in this order: SQLite rebuilds the table for each change and appends the altered
    # column, so the order decides the column order an existing database ended up with.
    operations = (
        migrations.AlterField(
            model_name="taskresult",
            name="date_done",
            field=models.DateTimeField(
                auto_now=True,
                db_index=True,
                verbose_name="updated at",
                help_text="When the current state was stored (the finish time of a finished task).",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="status",
            field=models.CharField(
                max_length=50,
                default="PENDING",
                choices=CLASSIC_STATES,
                db_index=True,
                verbose_name="state",
                help_text="The task's state, e.g. PENDING, STARTED, SUCCESS or FAILURE.",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="task_id",
            field=models.CharField(
                max_length=ID_MAX_LENGTH,
                unique=True,
                db_index=True,
                verbose_name="task id",
                help_text="The id Celery gave the task.",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="task_name",
            field=models.CharField(
                max_length=ID_MAX_LENGTH,
                null=True,
                db_index=True,
                verbose_name="task name",
                help_text="The registered name of the task.",
            ),
        ),
    )
