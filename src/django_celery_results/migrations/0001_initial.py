"""The task results table as the first releases created it (with the since-dropped ``hidden``)."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models

ID_MAX_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)

#: The states the first releases offered as choices; 0014 drops the choices (no schema effect).
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
    """Create ``django_celery_results_taskresult``."""

    initial = True
    dependencies = ()

    operations = (
        migrations.CreateModel(
            name="TaskResult",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "task_id",
                    models.CharField(
                        max_length=ID_MAX_LENGTH,
                        unique=True,
                        verbose_name="task id",
                        help_text="The id Celery gave the task.",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        max_length=50,
                        default="PENDING",
                        choices=CLASSIC_STATES,
                        verbose_name="state",
                        help_text="The task's state, e.g. PENDING, STARTED, SUCCESS or FAILURE.",
                    ),
                ),
                (
                    "content_type",
                    models.CharField(
                        max_length=128,
                        verbose_name="content type",
                        help_text="How the result and meta were serialized, e.g. application/json.",
                    ),
                ),
                (
                    "content_encoding",
                    models.CharField(
                        max_length=64,
                        verbose_name="content encoding",
                        help_text="The text encoding of the serialized data (binary means base64).",
                    ),
                ),
                (
                    "result",
                    models.TextField(
                        null=True,
                        default=None,
                        editable=False,
                        verbose_name="result",
                        help_text="The serialized return value, or exception of a failed task.",
                    ),
                ),
                (
                    "date_done",
                    models.DateTimeField(
                        auto_now=True,
                        verbose_name="updated at",
                        help_text=(
                            "When the current state was stored "
                            "(the finish time of a finished task)."
                        ),
                    ),
                ),
                (
                    "traceback",
                    models.TextField(
                        blank=True,
                        null=True,
                        verbose_name="traceback",
                        help_text="The traceback of a failed task.",
                    ),
                ),
                (
                    "hidden",
                    models.BooleanField(
                        db_index=True, default=False, editable=False, verbose_name="hidden"
                    ),
                ),
                (
                    "meta",
                    models.TextField(
                        null=True,
                        default=None,
                        editable=False,
                        verbose_name="meta",
                        help_text=(
                            "Serialized extra information: children, custom meta of the request."
                        ),
                    ),
                ),
            ],
            options={"verbose_name": "task result", "verbose_name_plural": "task results"},
        ),
    )
