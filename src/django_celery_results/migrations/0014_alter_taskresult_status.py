"""Any state name is valid: drop the choices of ``status`` (no schema change)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Remove the choices of ``taskresult.status``; custom states are as valid as Celery's."""

    dependencies = (("django_celery_results", "0013_taskresult_django_cele_periodi_1993cf_idx"),)

    operations = (
        migrations.AlterField(
            model_name="taskresult",
            name="status",
            field=models.CharField(
                max_length=50,
                default="PENDING",
                verbose_name="state",
                help_text="The task's state, e.g. PENDING, STARTED, SUCCESS or FAILURE.",
            ),
        ),
    )
