"""Read-only admin pages for task and group results.

Results are written by workers; editing one by hand would make the admin disagree with what
Celery reports, so the pages offer viewing, filtering and deleting only. Chord counters are
internal bookkeeping and have no page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import GroupResult, TaskResult

__all__ = ["GroupResultAdmin", "TaskResultAdmin"]

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
        """Nobody edits results by hand (users with the view permission still see them)."""
        return False


@admin.register(TaskResult)
class TaskResultAdmin(_ReadOnlyAdmin):
    """Task results: filter by state, worker, task and schedule entry; newest first."""

    date_hierarchy = "date_done"
    list_display = ("task_id", "task_name", "periodic_task_name", "status", "worker", "date_done")
    list_filter = ("status", "worker", "task_name", "periodic_task_name")
    search_fields = ("task_id", "task_name", "periodic_task_name")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "task_id",
                    "task_name",
                    "periodic_task_name",
                    "status",
                    "worker",
                    "content_type",
                    "content_encoding",
                )
            },
        ),
        (_("Call"), {"fields": ("task_args", "task_kwargs")}),
        (
            _("Outcome"),
            {
                "fields": (
                    "result",
                    "traceback",
                    "meta",
                    "date_created",
                    "date_started",
                    "date_done",
                )
            },
        ),
    )
    readonly_fields = (
        "task_id",
        "task_name",
        "periodic_task_name",
        "status",
        "worker",
        "content_type",
        "content_encoding",
        "task_args",
        "task_kwargs",
        "result",
        "traceback",
        "meta",
        "date_created",
        "date_started",
        "date_done",
    )


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
