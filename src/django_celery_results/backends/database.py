"""``django_celery_results.backends.database.DatabaseBackend``, kept at the old import path."""

from ..celery_bridge.database import DatabaseBackend

__all__ = ["DatabaseBackend"]
