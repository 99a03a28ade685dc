"""Access rules for the JSON views' tests, importable by dotted path (``tests.views_access_rules``).

``DJANGO_CELERY_RESULTS_VIEWS_ACCESS`` may name a callable by its dotted path; the tests name
these.
"""

from __future__ import annotations

from django.http import HttpRequest

__all__ = ["NOT_CALLABLE", "tasks_only", "too_few_arguments"]

#: Not callable: naming it in the setting is an error.
NOT_CALLABLE = "not a function"


def tasks_only(request: HttpRequest, kind: str, object_id: str) -> bool:
    """Allow every task and no group."""
    return kind == "task"


def too_few_arguments(request: HttpRequest) -> bool:
    """Cannot be called as ``(request, kind, object_id)``: naming it in the setting is an error."""
    return True
