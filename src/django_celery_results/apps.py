"""The Django app config: ``INSTALLED_APPS = ["django_celery_results"]`` finds it here.

The app is the package root, ``django_celery_results``, with the old package's label, so tables,
migration history and permissions are the old package's, and so are the module paths Django and
user code look for by convention: ``django_celery_results.migrations`` (the real migrations
package, whose files code may list) and ``django_celery_results.models`` and ``.admin``, which
Django imports at start-up. The models and the admin classes themselves live in the ORM adapter
(``adapters/django_orm/``); the root ``models`` and ``admin`` modules import them, which is where
the models register and the admin pages are set up. Whatever Django finds by the app's path
(``migrations``, ``management/commands``, ``templates``, ``locale``, ``static``) belongs in the
package root, beside this module.

``ready()`` is where the model managers get the storage they write through: the composition root
(``celery_bridge/composition.py``) builds it, so the ORM adapter never chooses an adapter itself.
It also registers the system checks of ``checks.py``, as Django's documentation advises.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from .adapters.django_orm.managers import provide_result_stores
from .celery_bridge.composition import orm_result_store
from .checks import register_checks

__all__ = ["CeleryResultConfig"]


class CeleryResultConfig(AppConfig):
    """Celery results: models, migrations and admin of the ``django-db`` backend."""

    # The package root, not the ORM adapter: Django reads the migrations from ``<name>.migrations``
    # (MIGRATION_MODULES aside, which is the user's setting), and the old import path
    # ``django_celery_results.migrations`` must be that very package (issue 9, defect 7).
    name = "django_celery_results"
    label = "django_celery_results"
    verbose_name = _("Celery Results")
    # The schema's primary keys are AutoField whatever the project's DEFAULT_AUTO_FIELD says,
    # so an existing database keeps its columns and makemigrations stays clean.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Hand the model managers the ORM's ``ResultStore`` factory; register the checks."""
        provide_result_stores(orm_result_store)
        register_checks()
