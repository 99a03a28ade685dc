"""Compatibility import path: ``from django_celery_results.models import TaskResult`` works."""

from __future__ import annotations

from celery import states

from .adapters.django_orm.models import ChordCounter, GroupResult, TaskResult

__all__ = ["ALL_STATES", "TASK_STATE_CHOICES", "ChordCounter", "GroupResult", "TaskResult"]

#: Celery's state names, sorted (the status column also takes custom states).
ALL_STATES: list[str] = sorted(states.ALL_STATES)
#: ``(value, label)`` pairs of ``ALL_STATES``, for forms and filters.
TASK_STATE_CHOICES: list[tuple[str, str]] = [(state, state) for state in ALL_STATES]
