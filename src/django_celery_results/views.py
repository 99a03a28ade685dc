"""Compatibility import path: the JSON result views live in the Celery bridge (both backends)."""

from __future__ import annotations

from .celery_bridge.views import (
    group_status,
    is_group_successful,
    is_task_successful,
    task_status,
)

__all__ = ["group_status", "is_group_successful", "is_task_successful", "task_status"]
