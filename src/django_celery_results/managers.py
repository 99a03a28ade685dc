"""Compatibility import path of the model managers (they live in the ORM adapter)."""

from __future__ import annotations

from .adapters.django_orm.managers import GroupResultManager, TaskResultManager

__all__ = ["GroupResultManager", "TaskResultManager"]
