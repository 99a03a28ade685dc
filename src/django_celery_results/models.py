"""Compatibility import path: ``from django_celery_results.models import TaskResult`` works."""

from __future__ import annotations

from .adapters.django_orm.models import ChordCounter, GroupResult, TaskResult

__all__ = ["ChordCounter", "GroupResult", "TaskResult"]
