"""The real clock: the ``Clock`` port's one production adapter, plain Python, no framework."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["SystemClock"]


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        return datetime.now(timezone.utc)
