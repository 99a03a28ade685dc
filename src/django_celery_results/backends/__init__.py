"""Celery result backend classes, importable where the old package put them."""

from __future__ import annotations

from .cache import CacheBackend
from .database import DatabaseBackend

__all__ = ["CacheBackend", "DatabaseBackend"]
