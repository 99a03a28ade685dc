"""A tiny Django project whose Celery app stores its results with ``django-db``."""

from __future__ import annotations

# Loading the Celery app with Django makes `@shared_task` bind to it (the usual Django layout).
from .celery import app as celery_app

__all__ = ["celery_app"]
