"""Drop the unused ``hidden`` flag."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    """Remove ``taskresult.hidden``."""

    dependencies = (("django_celery_results", "0006_taskresult_date_created"),)

    operations = (migrations.RemoveField(model_name="taskresult", name="hidden"),)
