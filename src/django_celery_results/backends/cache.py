"""``django_celery_results.backends.cache.CacheBackend``, kept at the old import path."""

from __future__ import annotations

from ..celery_bridge.cache import CacheBackend

__all__ = ["CacheBackend"]
