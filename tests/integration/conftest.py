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
