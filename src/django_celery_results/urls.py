"""URLs of the JSON result views: ``path("results/", include("django_celery_results.urls"))``.

The URL names are the old package's (``celery-task_status`` ...), and so are both path styles:
noun first (``task/status/<id>/``) and the older id first (``<id>/status/``). Both resolve; the
id-first pattern comes last, so ``reverse()`` builds the same paths it built with the old package.
``DJANGO_CELERY_RESULTS_ID_FIRST_URLS = False`` leaves the id-first paths out, as it did there.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, path, register_converter

from .celery_bridge import views

__all__ = ["CeleryIdConverter", "TaskPatternConverter", "urlpatterns"]


class CeleryIdConverter:
    """A task or group id: letters, digits, ``_``, ``-`` and ``.`` (UUIDs and custom ids)."""

    regex = r"[\w.-]+"

    def to_python(self, value: str) -> str:
        """The id as captured."""
        return value

    def to_url(self, value: str) -> str:
        """The id as given."""
        return value


#: The old package's name for the converter, and the name it registered it under, for url
#: patterns of projects that use ``<task_pattern:...>`` (the regex is the same).
TaskPatternConverter = CeleryIdConverter

register_converter(CeleryIdConverter, "celery_result_id")
register_converter(TaskPatternConverter, "task_pattern")

#: Each view with its URL name, its noun-first path and the id-first path of early releases
#: (still used by existing front ends).
_ROUTES = [
    (
        views.is_task_successful,
        "celery-is_task_successful",
        "task/done/<celery_result_id:task_id>/",
        "<celery_result_id:task_id>/done/",
    ),
    (
        views.task_status,
        "celery-task_status",
        "task/status/<celery_result_id:task_id>/",
        "<celery_result_id:task_id>/status/",
    ),
    (
        views.is_group_successful,
        "celery-is_group_successful",
        "group/done/<celery_result_id:group_id>/",
        "<celery_result_id:group_id>/group/done/",
    ),
    (
        views.group_status,
        "celery-group_status",
        "group/status/<celery_result_id:group_id>/",
        "<celery_result_id:group_id>/group/status/",
    ),
]

urlpatterns: list[URLPattern] = [
    path(noun_first, view, name=name) for view, name, noun_first, _ in _ROUTES
]
_id_first = [path(id_first, view, name=name) for view, name, _, id_first in _ROUTES]

if getattr(settings, "DJANGO_CELERY_RESULTS_ID_FIRST_URLS", True):
    urlpatterns += _id_first
