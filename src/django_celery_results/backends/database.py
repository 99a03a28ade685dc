"""``django_celery_results.backends.database.DatabaseBackend``, kept at the old import path."""

from __future__ import annotations

from ..celery_bridge.database import DatabaseBackend

__all__ = ["DatabaseBackend"]
