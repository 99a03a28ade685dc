"""Celery result backend classes, importable where the old package put them."""

from .database import DatabaseBackend

__all__ = ["DatabaseBackend"]
