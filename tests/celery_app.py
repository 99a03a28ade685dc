"""The Celery app and tasks that the worker tests run (in-memory broker, ``django-db`` results)."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

app = Celery("dcr_tests")
app.conf.update(
    broker_url="memory://",
    result_backend="django-db",
    result_extended=True,
    task_track_started=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=False,
)

_attempts: dict[str, int] = {}


@app.task(name="tests.add")
def add(x: int, y: int) -> int:
    """Return the sum."""
    return x + y


@app.task(name="tests.fail")
def fail(message: str) -> None:
    """Raise ValueError(message)."""
    raise ValueError(message)


@app.task(name="tests.flaky", bind=True, max_retries=3, default_retry_delay=0)
def flaky(self: Task[Any, Any], key: str, failures: int) -> str:
    """Fail ``failures`` times (retrying each time), then succeed."""
    seen = _attempts.get(key, 0)
    _attempts[key] = seen + 1
    if seen < failures:
        raise self.retry(exc=RuntimeError(f"attempt {seen + 1} failed"), countdown=0)
    return f"done after {seen} retries"


@app.task(name="tests.tsum")
def tsum(values: list[int]) -> int:
    """Return the sum of a list (a chord callback)."""
    return sum(values)
