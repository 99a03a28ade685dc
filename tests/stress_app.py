"""The Celery app of the stress tests: RabbitMQ broker, ``django-db`` results.

Worker subprocesses run it (``celery -A tests.stress_app worker``) with
``DJANGO_SETTINGS_MODULE=tests.worker_settings``, whose ``default`` database is the one under
test; the stress tests import it too, to send the chords (Django is already set up there).

Environment (set by the test that starts the worker):

- ``DCR_STRESS_BROKER``: the broker URL (RabbitMQ on 127.0.0.1 by default);
- ``DCR_STRESS_ACKS_LATE``: ``1`` for ``task_acks_late``;
- ``DCR_STRESS_JOIN_TIMEOUT``: ``result_chord_join_timeout`` in seconds;
- ``DCR_STRESS_RUNS``: a file with one line per run of ``stress.collect`` (``callback <id>``)
  and per second report of a header part (``duplicate <id>``), so the test can tell a
  callback that ran twice (same id, one row) from one that ran once, and count the
  duplicates it injected.
- ``DCR_HOLD_CALLBACK``: a file; when set, the worker process that claims a chord's callback
  writes ``held <group id>`` to it and then waits there for ever (the window between claiming
  and sending a callback, where the chord recovery test kills the worker).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django
from celery import Celery, Task
from django.apps import apps

if not apps.ready:  # a worker subprocess; under pytest, tests.settings is set up already
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.worker_settings")
    django.setup()

if os.environ.get("DCR_HOLD_CALLBACK"):
    import time

    from django_celery_results.celery_bridge import chords

    def _hold(group_id: str) -> None:
        with Path(os.environ["DCR_HOLD_CALLBACK"]).open("a", encoding="utf-8") as marker:
            marker.write(f"held {group_id}\n")
        while True:  # until the test kills this process
            time.sleep(1)

    chords.before_sending_callback = _hold

BROKER_URL = os.environ.get("DCR_STRESS_BROKER", "amqp://guest:guest@127.0.0.1:5672//")

app = Celery("dcr_stress", set_as_current=False)
app.conf.update(
    broker_url=BROKER_URL,
    result_backend="django-db",
    result_extended=True,
    task_acks_late=os.environ.get("DCR_STRESS_ACKS_LATE") == "1",
    result_chord_join_timeout=float(os.environ.get("DCR_STRESS_JOIN_TIMEOUT", "3")),
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


class HeaderTask(Task):  # type: ignore[type-arg]  # celery-types: Task[P, R]; any task here
    """A chord header task that can report its part a second time, after the first report.

    That is what a redelivered ``acks_late`` task or a duplicated message does: the same task
    id stores its (already final) result again and reports the same chord part again.
    """

    def after_return(
        self,
        status: str,
        retval: Any,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """Report the chord part again when the task was sent with ``duplicate=True``."""
        # Celery calls this after it stored the result and reported the part once.
        if kwargs.get("duplicate") and self.request.chord:
            _note("duplicate", self.request.id)
            self.backend.on_chord_part_return(self.request, status, retval)


@app.task(name="stress.part", base=HeaderTask)
def part(value: int, duplicate: bool = False) -> int:
    """Return ``value`` (a chord header task)."""
    return value


@app.task(name="stress.collect", bind=True)
def collect(self: Task[Any, Any], values: list[int]) -> list[int]:
    """Return the header's values (a chord callback), noting this run in ``DCR_STRESS_RUNS``."""
    _note("callback", self.request.id)
    return values


def _note(event: str, task_id: str | None) -> None:
    """Append ``event task_id`` to ``DCR_STRESS_RUNS`` (when the test asked for it)."""
    runs = os.environ.get("DCR_STRESS_RUNS")
    if runs:
        # One short append per line: O_APPEND keeps concurrent lines whole.
        with Path(runs).open("a", encoding="utf-8") as log:
            log.write(f"{event} {task_id}\n")
