"""The fault soak's Celery app and Django settings, for the worker and for the driver alike.

``benchmarks/fault_soak.py`` (the driver) imports it with the store's own port, to send the work
and to check the results directly; the worker subprocess
(``celery -A benchmarks.soak_app worker``) imports it with the fault proxy's port, so every
result it stores crosses the proxy. Environment (set by the driver):

- ``DCR_SOAK_STORE``: ``postgresql``, ``mariadb`` or ``redis``;
- ``DCR_SOAK_PORT``: the port to reach the store on (127.0.0.1 only);
- ``DCR_SOAK_DB``: the scratch database's name (databases) or the key prefix (Redis);
- ``DCR_SOAK_QUEUE``: the run's own queue on RabbitMQ (``DCR_SOAK_BROKER``);
- ``DCR_SOAK_RUNS``: a file with one line per run of the chord callback, written directly
  (never through the proxy), so a callback that ran twice shows as two lines.

The retry settings are the README's recommendation ("Riding out outages").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django
from celery import Celery, Task

from benchmarks.soak_settings import RETRY_SETTINGS

STORE = os.environ.get("DCR_SOAK_STORE", "postgresql")
QUEUE = os.environ.get("DCR_SOAK_QUEUE", "dcr-soak")
BROKER_URL = os.environ.get("DCR_SOAK_BROKER", "amqp://guest:guest@127.0.0.1:5672//")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.soak_settings")
django.setup()

app = Celery("dcr_soak", set_as_current=False)
app.conf.update(
    broker_url=BROKER_URL,
    result_backend="django-cache" if STORE == "redis" else "django-db",
    cache_backend="soak",
    result_extended=True,
    result_expires=None,
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    **RETRY_SETTINGS,
)


@app.task(name="soak.double")
def double(value: int) -> int:
    """Return twice ``value`` (single tasks, group members and chord header tasks)."""
    return 2 * value


@app.task(name="soak.fail")
def fail(value: int) -> None:
    """Fail on purpose: the stored state must be FAILURE with this error."""
    raise ValueError(f"deliberate failure {value}")


@app.task(name="soak.flaky", bind=True, max_retries=5)
def flaky(self: Task[Any, Any], value: int, failures: int) -> int:
    """Retry ``failures`` times (Celery's task retry), then return three times ``value``."""
    if self.request.retries < failures:
        raise self.retry(countdown=0.2)
    return 3 * value


@app.task(name="soak.collect", bind=True)
def collect(self: Task[Any, Any], values: list[int]) -> int:
    """A chord callback: note this run (directly, in ``DCR_SOAK_RUNS``), return the sum."""
    runs = os.environ.get("DCR_SOAK_RUNS")
    if runs:
        # One short O_APPEND write per run: lines of the two pool processes stay whole.
        with Path(runs).open("a", encoding="utf-8") as log:
            log.write(f"{self.request.id}\n")
    return sum(values)
