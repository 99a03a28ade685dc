"""Moved: the django-db chord tests (issue 3) are in ``test_chords_*.py``, split by concern.

What they share is in ``chords_support.py``. This module only re-exports those names for the
modules that still import them from here (``/work/notes/request-H5-1.md``); it goes once they
import ``tests.integration.chords_support``.
"""

from __future__ import annotations

from tests.integration.chords_support import (
    db_backend,
    make_app,
    part_request,
    report,
    start_chord,
    store_successes,
)

__all__ = [
    "db_backend",
    "make_app",
    "part_request",
    "report",
    "start_chord",
    "store_successes",
]
