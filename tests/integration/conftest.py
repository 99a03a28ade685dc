"""Fixtures of the integration tests: chord callbacks recorded instead of published."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery.canvas import Signature


class SentCallbacks:
    """Records the signatures sent instead of publishing them (``Signature.apply_async``)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str | None, str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    def apply_async(self, signature: Signature[Any], args: Any = None, *_: Any, **__: Any) -> None:
        """Stand in for ``Signature.apply_async``: remember (task id, task name, args)."""
        with self._lock:
            self.sent.append((signature.id, str(signature.task), tuple(args or ())))


@pytest.fixture
def sent_callbacks(monkeypatch: pytest.MonkeyPatch) -> SentCallbacks:
    """Every ``Signature.apply_async`` call (a chord callback's ``delay``) is recorded, not sent."""
    recorder = SentCallbacks()

    def apply_async(self: Signature[Any], args: Any = None, *rest: Any, **options: Any) -> None:
        recorder.apply_async(self, args, *rest, **options)

    monkeypatch.setattr(Signature, "apply_async", apply_async)
    return recorder


@pytest.fixture(scope="session", autouse=True)
def mysql_character_sets_read(django_db_setup: None, django_db_blocker: Any) -> None:
    """MariaDB's column character sets, read once before any test counts statements.

    The ORM adapter reads them once per process, on a table's first use; reading them here
    keeps that one ``information_schema`` query out of every test's exact statement counts.
    """
    from django.db import connections

    from django_celery_results.adapters.django_orm.bound import bound_table
    from django_celery_results.adapters.django_orm.models import (
        ChordCounter,
        ChordPart,
        GroupResult,
        TaskResult,
    )
    from tests import settings as test_settings

    if "mariadb" not in test_settings.DATABASES:
        return
    with django_db_blocker.unblock():
        for model in (TaskResult, GroupResult, ChordCounter, ChordPart):
            bound_table(model, connections["mariadb"])
