"""The demo's tasks: one that succeeds, one that fails, one that retries, and two to chain."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task
def add(x: int, y: int) -> int:
    """Return ``x + y``."""
    return x + y


@shared_task
def mul(x: int, y: int) -> int:
    """Return ``x * y``."""
    return x * y


@shared_task
def fail(message: str) -> None:
    """Always raise, so the backend stores a FAILURE with its traceback."""
    raise ValueError(message)


@shared_task(bind=True, max_retries=3)
def flaky(self: Any, failures: int) -> str:
    """Fail ``failures`` times with a retry (state RETRY each time), then succeed."""
    if self.request.retries < failures:
        raise self.retry(exc=ConnectionError("service unavailable"), countdown=0.2)
    return f"ok after {self.request.retries} retries"
