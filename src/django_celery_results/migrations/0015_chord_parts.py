"""Chords that count each header task once, and counters that cleanup can expire.

New in this package (after the old package's last migration, 0014): ``ChordPart`` records
which header tasks a chord has counted, and ``ChordCounter.date_created`` dates each counter.
The new column is nullable, so the old package (which knows nothing of it) can still create
counters after a downgrade; cleanup dates such counters when it first sees them.
"""

from __future__ import annotations

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

ID_MAX_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)


class Migration(migrations.Migration):
    """Add ``chordcounter.date_created`` and the ``chordpart`` table."""

    dependencies = (("django_celery_results", "0014_alter_taskresult_status"),)

    operations = (
        migrations.AddField(
            model_name="chordcounter",
            name="date_created",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                null=True,
                verbose_name="created",
                help_text="When the chord started.",
            ),
        ),
        migrations.AddIndex(
            model_name="chordcounter",
            index=models.Index(fields=["date_created"], name="dcr_chordcounter_created_idx"),
        ),
        migrations.CreateModel(
            name="ChordPart",
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
                        verbose_name="group id",
                        help_text="The id of the chord's header group.",
                    ),
                ),
                (
                    "task_id",
                    models.CharField(
                        max_length=ID_MAX_LENGTH,
                        verbose_name="task id",
                        help_text="The header task that was counted.",
                    ),
                ),
                (
                    "date_done",
                    models.DateTimeField(
                        default=django.utils.timezone.now,
                        verbose_name="counted at",
                        help_text="When the task was counted.",
                    ),
                ),
            ],
            options={
                "verbose_name": "chord part",
                "verbose_name_plural": "chord parts",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("group_id", "task_id"), name="dcr_chordpart_uniq"
                    )
                ],
                "indexes": [models.Index(fields=["date_done"], name="dcr_chordpart_done_idx")],
            },
        ),
    )
