"""URLs of the JSON result views: ``path("results/", include("django_celery_results.urls"))``.

The URL names are the old package's (``celery-task_status`` ...), and so are both path styles:
noun first (``task/status/<id>/``) and the older id first (``<id>/status/``). Both resolve; the
id-first pattern comes last, so ``reverse()`` builds the same paths it built with the old package.
``DJANGO_CELERY_RESULTS_ID_FIRST_URLS = False`` leaves the id-first paths out, as it did there.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, path, register_converter

from .adapters.django_orm import views

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

urlpatterns: list[URLPattern] = [
    path(
        "task/done/<celery_result_id:task_id>/",
        views.is_task_successful,
        name="celery-is_task_successful",
    ),
    path("task/status/<celery_result_id:task_id>/", views.task_status, name="celery-task_status"),
    path(
        "group/done/<celery_result_id:group_id>/",
        views.is_group_successful,
        name="celery-is_group_successful",
    ),
    path(
        "group/status/<celery_result_id:group_id>/",
        views.group_status,
        name="celery-group_status",
    ),
]

# Id-first paths of early releases, still used by existing front ends.
_id_first = [
    path(
        "<celery_result_id:task_id>/done/",
        views.is_task_successful,
        name="celery-is_task_successful",
    ),
    path("<celery_result_id:task_id>/status/", views.task_status, name="celery-task_status"),
    path(
        "<celery_result_id:group_id>/group/done/",
        views.is_group_successful,
        name="celery-is_group_successful",
    ),
    path(
        "<celery_result_id:group_id>/group/status/",
        views.group_status,
        name="celery-group_status",
    ),
]

if getattr(settings, "DJANGO_CELERY_RESULTS_ID_FIRST_URLS", True):
    urlpatterns += _id_first
