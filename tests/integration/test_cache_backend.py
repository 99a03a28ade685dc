"""Moved: CacheBackend's tests are in ``test_cache_backend_*.py``, split by concern.

What they share is in ``cache_backend_support.py``. This module only re-exports those names for
the modules that still import them from here (``/work/notes/request-H5-1.md``); it goes once
they import ``tests.integration.cache_backend_support``.
"""

from __future__ import annotations

from tests.integration.cache_backend_support import (
    ALIASES,
    ATOMIC,
    NEEDS_MEMCACHED,
    NEEDS_REDIS,
    Request,
    backend_of,
    make_app,
)

__all__ = [
    "ALIASES",
    "ATOMIC",
    "NEEDS_MEMCACHED",
    "NEEDS_REDIS",
    "Request",
    "backend_of",
    "make_app",
]
