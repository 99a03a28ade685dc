"""Chord recovery's setting and report: callbacks that a dead worker never sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "DEFAULT_GRACE",
    "GRACE_SETTING",
    "RecoveringBackend",
    "RecoveryReport",
    "chord_recovery_grace",
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


class RecoveringBackend(Protocol):
    """A result backend of ours that can recover chords (``DatabaseBackend``, ``CacheBackend``)."""

    def recover_chords(self, grace: timedelta | None = None, limit: int = 100) -> RecoveryReport:
        """Send the callbacks of finished chords that no worker sent."""
        ...

    def chords_awaiting_recovery(self, grace: timedelta, limit: int = 100) -> list[str]:
        """The group ids recovery would send the callbacks of now."""
        ...
