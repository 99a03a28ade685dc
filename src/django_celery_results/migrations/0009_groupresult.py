"""Saved group results, and named indexes in place of the per-field ``db_index`` ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import migrations, models

if TYPE_CHECKING:
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.state import ProjectState

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


class FakeAddIndex(migrations.AddIndex):
    """An index that enters the migration state only; the database is left as it is.

    The column is unique, so the database indexes it already; a second index would only cost
    writes. 0010 takes the index out of the state again (and drops it from databases where an
    earlier release did create it). The name is the old package's, for code that imports it.
    """

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        """Nothing: the unique column's own index serves."""

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        """Nothing: forwards created nothing."""


class Migration(migrations.Migration):
    """Create ``django_celery_results_groupresult`` and rename the indexes of the other tables."""

    dependencies = (("django_celery_results", "0008_chordcounter"),)

    operations = (
        migrations.CreateModel(
            name="GroupResult",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "group_id",
                    models.CharField(
                        max_length=ID_MAX_LENGTH,
                        unique=True,
                        verbose_name="group id",
                        help_text="The id Celery gave the group.",
                    ),
                ),
                (
                    "date_created",
                    models.DateTimeField(
                        auto_now_add=True,
                        verbose_name="created at",
                        help_text="When the group was first saved.",
                    ),
                ),
                (
                    "date_done",
                    models.DateTimeField(
                        auto_now=True,
                        verbose_name="updated at",
                        help_text="When the group was last saved.",
                    ),
                ),
                (
                    "content_type",
                    models.CharField(
                        max_length=128,
                        verbose_name="content type",
                        help_text="How the result was serialized, e.g. application/json.",
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
                        help_text="The serialized group: its id and its members' result tuples.",
                    ),
                ),
            ],
            options={
                "verbose_name": "group result",
                "verbose_name_plural": "group results",
                "ordering": ["-date_done"],
            },
        ),
        # The per-field indexes go (a unique column keeps its unique constraint) ...
        migrations.AlterField(
            model_name="chordcounter",
            name="group_id",
            field=models.CharField(
                max_length=ID_MAX_LENGTH,
                unique=True,
                verbose_name="group id",
                help_text="The id of the chord's header group.",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="date_created",
            field=models.DateTimeField(
                auto_now_add=True,
                verbose_name="created at",
                help_text="When the first state of the task was stored.",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="date_done",
            field=models.DateTimeField(
                auto_now=True,
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
                verbose_name="task name",
                help_text="The registered name of the task.",
            ),
        ),
        migrations.AlterField(
            model_name="taskresult",
            name="worker",
            field=models.CharField(
                max_length=100,
                null=True,
                default=None,
                verbose_name="worker",
                help_text="The hostname of the worker that ran the task.",
            ),
        ),
        # ... and come back as Meta.indexes with fixed names.
        FakeAddIndex(
            model_name="chordcounter",
            index=models.Index(fields=["group_id"], name="django_cele_group_i_299b0d_idx"),
        ),
        FakeAddIndex(
            model_name="taskresult",
            index=models.Index(fields=["task_id"], name="django_cele_task_id_7f8fca_idx"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["task_name"], name="django_cele_task_na_08aec9_idx"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["status"], name="django_cele_status_9b6201_idx"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["worker"], name="django_cele_worker_d54dd8_idx"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["date_created"], name="django_cele_date_cr_f04a50_idx"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["date_done"], name="django_cele_date_do_f59aad_idx"),
        ),
        FakeAddIndex(
            model_name="groupresult",
            index=models.Index(fields=["group_id"], name="django_cele_group_i_3cddec_idx"),
        ),
        migrations.AddIndex(
            model_name="groupresult",
            index=models.Index(fields=["date_created"], name="django_cele_date_cr_bd6c1d_idx"),
        ),
        migrations.AddIndex(
            model_name="groupresult",
            index=models.Index(fields=["date_done"], name="django_cele_date_do_caae0e_idx"),
        ),
    )
