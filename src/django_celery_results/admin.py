"""Compatibility import path of the admin classes.

Django's admin autodiscovery imports the app's own admin module
(``django_celery_results.adapters.django_orm.admin``), which registers the models. Importing
this module imports that same module, so the registration happens exactly once either way.
"""

from __future__ import annotations

from .adapters.django_orm.admin import ALLOW_EDITS, GroupResultAdmin, TaskResultAdmin

__all__ = ["ALLOW_EDITS", "GroupResultAdmin", "TaskResultAdmin"]
