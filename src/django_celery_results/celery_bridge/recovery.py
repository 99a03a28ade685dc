"""Chord recovery's setting and report: callbacks that a dead worker never sent."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .database import DatabaseBackend

__all__ = [
    "DEFAULT_GRACE",
    "GRACE_SETTING",
    "RecoveryReport",
    "chord_recovery_grace",
    "database_backend",
]

#: The Django setting that sets the grace period (seconds, or a timedelta).
GRACE_SETTING = "DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE"
#: How long a finished chord's callback may go unsent before recovery sends it.
DEFAULT_GRACE = timedelta(minutes=5)


def chord_recovery_grace() -> timedelta:
    """The configured grace period; ``ImproperlyConfigured`` naming the setting if invalid."""
    value = getattr(settings, GRACE_SETTING, None)
    if value is None:
        return DEFAULT_GRACE
    if isinstance(value, timedelta):
        grace = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        grace = timedelta(seconds=value)
    else:
        raise ImproperlyConfigured(
            f"{GRACE_SETTING} must be a number of seconds or a timedelta, got {value!r}"
        )
    if grace < timedelta(0):
        raise ImproperlyConfigured(f"{GRACE_SETTING} must not be negative, got {value!r}")
    return grace


@attrs.define
class RecoveryReport:
    """What one chord recovery run did.

    Attributes:
        sent: group ids of the chords whose callback it sent (or failed with a ChordError).
        unreadable: group ids whose stored callback could not be read (logged, not sent).
    """

    sent: list[str] = attrs.Factory(list)
    unreadable: list[str] = attrs.Factory(list)

    def __str__(self) -> str:
        return f"{len(self.sent)} callbacks sent, {len(self.unreadable)} unreadable"


def database_backend(app: Any = None) -> DatabaseBackend:
    """The django-db backend of ``app`` (the current Celery app by default).

    An app configured with another result backend gets a ``DatabaseBackend`` of its own, so
    the command and the task still reach the chords stored through Django.
    """
    from celery import current_app

    from .database import DatabaseBackend

    app = app or current_app
    backend = app.backend
    if isinstance(backend, DatabaseBackend):
        return backend
    return DatabaseBackend(app=app)
