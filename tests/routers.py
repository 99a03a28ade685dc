"""A database router whose target a test can switch, to run the backend on each database."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_state = threading.local()
_global: dict[str, str | None] = {"alias": None}


def current_alias() -> str | None:
    """The alias results are routed to now, or None for Django's default routing."""
    return getattr(_state, "alias", None) or _global["alias"]


@contextlib.contextmanager
def route_results_to(alias: str) -> Iterator[None]:
    """Route every read and write of the results app to ``alias`` (all threads) for a block."""
    previous = _global["alias"]
    _global["alias"] = alias
    try:
        yield
    finally:
        _global["alias"] = previous


class SwitchableRouter:
    """Sends the results app to ``current_alias()``; other apps get Django's default routing."""

    app_label = "django_celery_results"

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        """Route reads of our models."""
        return current_alias() if model._meta.app_label == self.app_label else None

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        """Every app migrates everywhere, so each test database holds the whole schema."""
        return True
