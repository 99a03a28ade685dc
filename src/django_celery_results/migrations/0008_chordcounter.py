"""The chord join counter of the database backend."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models

ID_MAX_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)


class Migration(migrations.Migration):
    """Create ``django_celery_results_chordcounter``."""

    dependencies = (("django_celery_results", "0007_remove_taskresult_hidden"),)

    operations = (
        migrations.CreateModel(
            name="ChordCounter",
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
                        db_index=True,
                        verbose_name="group id",
                        help_text="The id of the chord's header group.",
                    ),
                ),
                (
                    "sub_tasks",
                    models.TextField(
                        verbose_name="header tasks",
                        help_text=(
                            "The header's results as a JSON list of result tuples; "
                            "see group_result()."
                        ),
                    ),
                ),
                (
                    "count",
                    models.PositiveIntegerField(
                        verbose_name="remaining",
                        help_text=(
                            "Header tasks still to finish; the callback runs when it reaches zero."
                        ),
                    ),
                ),
            ],
            options={"verbose_name": "chord counter", "verbose_name_plural": "chord counters"},
        ),
    )
