"""The Django app config: ``INSTALLED_APPS = ["django_celery_results"]`` finds it here.

The app's code (models, migrations, admin) lives in the ORM adapter package; the label stays
``django_celery_results`` so tables, migration history and permissions are the old package's.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CeleryResultConfig(AppConfig):
    """Celery results: models, migrations and admin of the ``django-db`` backend."""

    name = "django_celery_results.adapters.django_orm"
    label = "django_celery_results"
    verbose_name = _("Celery Results")
    # The schema's primary keys are AutoField whatever the project's DEFAULT_AUTO_FIELD says,
    # so an existing database keeps its columns and makemigrations stays clean.
    default_auto_field = "django.db.models.AutoField"
