"""Celery result backends that keep task results in Django's ORM or cache.

Configure Celery with ``result_backend = "django-db"`` or ``"django-cache"`` and add
``"django_celery_results"`` to ``INSTALLED_APPS``.
"""

from __future__ import annotations

__version__ = "0.1.0"
