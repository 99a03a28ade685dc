"""The ``KeyValueStore`` adapter over Django's cache framework (``django-cache`` backend)."""

from __future__ import annotations

from .store import ATOMIC_ADD, ATOMIC_INCREMENT, DjangoCacheStore

__all__ = ["ATOMIC_ADD", "ATOMIC_INCREMENT", "DjangoCacheStore"]
