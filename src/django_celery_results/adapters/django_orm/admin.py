"""Read-only admin pages for task and group results.

Results are written by workers; editing one by hand would make the admin disagree with what
Celery reports, so the pages offer viewing, filtering and deleting only, unless the old
package's setting ``DJANGO_CELERY_RESULTS = {"ALLOW_EDITS": True}`` says otherwise: then a
user with the change permission may edit the stored fields (ids and dates stay read-only), as
the old package allowed. Chord counters are internal bookkeeping and have no page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import GroupResult, TaskResult

__all__ = ["ALLOW_EDITS", "GroupResultAdmin", "TaskResultAdmin"]


def _allow_edits() -> bool:
    options = getattr(settings, "DJANGO_CELERY_RESULTS", None) or {}
    return bool(options.get("ALLOW_EDITS", False))


#: The old package's switch at import time (its public name); the pages read the setting on
#: each request, so ``override_settings`` and a reloaded configuration apply.
ALLOW_EDITS: bool = _allow_edits()

#: Never editable, even with ALLOW_EDITS: what identifies a row and when it was stored.
_ALWAYS_READ_ONLY = ("task_id", "group_id", "date_created", "date_started", "date_done")

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs, not at runtime.
    _ModelAdmin = admin.ModelAdmin


class _ReadOnlyAdmin(_ModelAdmin):
    """Viewing and deleting only: no add form, no change form."""

    # The results tables grow large; the unfiltered COUNT(*) on every list page is the
    # slowest query the admin would run, and "(N total)" is not worth it.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Nobody adds results by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Nobody edits results by hand, unless ``ALLOW_EDITS`` (then the change permission)."""
        if _allow_edits():
            return super().has_change_permission(request, obj)
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Every field, unless ``ALLOW_EDITS``: then only ids and dates."""
        fields = super().get_readonly_fields(request, obj)
        if _allow_edits():
            return tuple(
                name
                for name in fields
                if name in _ALWAYS_READ_ONLY or not self.model._meta.get_field(name).editable
            )
        return fields


#: The task page's sections.
_TASK_SUMMARY = (
    "task_id",
    "task_name",
    "periodic_task_name",
    "status",
    "worker",
    "content_type",
    "content_encoding",
)
_TASK_CALL = ("task_args", "task_kwargs")
_TASK_OUTCOME = ("result", "traceback", "meta", "date_created", "date_started", "date_done")


@admin.register(TaskResult)
class TaskResultAdmin(_ReadOnlyAdmin):
    """Task results: filter by state, worker, task and schedule entry; newest first."""

    date_hierarchy = "date_done"
    list_display = ("task_id", "task_name", "periodic_task_name", "status", "worker", "date_done")
    list_filter = ("status", "worker", "task_name", "periodic_task_name")
    search_fields = ("task_id", "task_name", "periodic_task_name")
    fieldsets = (
        (None, {"fields": _TASK_SUMMARY}),
        (_("Call"), {"fields": _TASK_CALL}),
        (_("Outcome"), {"fields": _TASK_OUTCOME}),
    )
    # Every field on the page; ALLOW_EDITS lifts all but ids and dates.
    readonly_fields = _TASK_SUMMARY + _TASK_CALL + _TASK_OUTCOME


@admin.register(GroupResult)
class GroupResultAdmin(_ReadOnlyAdmin):
    """Saved group results, newest first."""

    date_hierarchy = "date_done"
    list_display = ("group_id", "date_created", "date_done")
    search_fields = ("group_id",)
    readonly_fields = (
        "group_id",
        "content_type",
        "content_encoding",
        "result",
        "date_created",
        "date_done",
    )
