"""Which backend runs chord recovery for the ``recover_chords`` command and task.

Apart from ``recovery.py`` because it names both backends, which themselves import
``recovery.py`` (its report and grace setting): here the import runs one way only.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

from .cache import CacheBackend
from .database import DatabaseBackend
from .recovery import RecoveringBackend

__all__ = ["recovering_backend"]


def recovering_backend(app: Any = None) -> RecoveringBackend:
    """The chord-recovering backend of ``app`` (the current Celery app by default).

    The app's own backend when it is one of ours (``django-db`` or ``django-cache``); for an
    app configured with another result backend, a ``DatabaseBackend`` of its own, so that the
    command and the task still reach the chords stored through Django.
    """
    app = app or current_app
    backend = app.backend
    if isinstance(backend, (DatabaseBackend, CacheBackend)):
        return backend
    return DatabaseBackend(app=app)
