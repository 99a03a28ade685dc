"""What a scenario runs against (``Bench``) and the Celery app with the benchmark tasks."""

from __future__ import annotations

import cProfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.result import AsyncResult

from benchmarks.scenarios.limit import DriverLimit
from benchmarks.scenarios.scale import Scale

__all__ = [
    "CALLBACK_TASK",
    "CAPTURED_CALLBACKS",
    "CAPTURED_UNLOCKS",
    "STAMP_TASK",
    "Bench",
    "make_app",
]

CALLBACK_TASK = "bench.collect"
STAMP_TASK = "bench.stamp"


@dataclass
class Bench:
    """What the scenarios run against.

    Attributes:
        app: the Celery app whose backend is measured (see ``make_app``).
        impl: ``"ours"``, ``"old"`` or ``"limit"``.
        kind: ``"db"`` or ``"cache"``.
        vendor: ``sqlite``, ``postgresql``, ``mysql``, ``locmem``, ``redis`` or ``memcached``.
        scale: how much work to do (already adjusted for the vendor).
        alias: the Django database alias the backend writes to (db targets).
        tag: a prefix that keeps this run's ids apart from any other run's.
        driver: the bare-driver limit (``impl == "limit"`` only).
        worker_config: what a worker subprocess needs (the CLI's config); None skips ``worker``.
        profiler: profiles the timed regions when set (the suite's ``--profile`` pass).
    """

    app: Celery
    impl: str
    kind: str
    vendor: str
    scale: Scale
    alias: str = "default"
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    driver: DriverLimit | None = None
    worker_config: dict[str, Any] | None = None
    profiler: cProfile.Profile | None = None


class _CapturedCallback(Task):  # type: ignore[type-arg]
    """The chord callback: each send is recorded in this process instead of published."""

    def apply_async(  # type: ignore[override]
        self, args: Sequence[Any] | None = None, kwargs: Any = None, **options: Any
    ) -> AsyncResult[Any]:
        """Record the call (the header's joined values) and return its would-be result."""
        CAPTURED_CALLBACKS.append(tuple(args or ()))
        return self.AsyncResult(options.get("task_id") or str(uuid.uuid4()))


#: Argument tuples of the chord callbacks sent in this process.
CAPTURED_CALLBACKS: list[tuple[Any, ...]] = []
#: (args, kwargs) of the ``celery.chord_unlock`` tasks sent in this process.
CAPTURED_UNLOCKS: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


def make_app(
    backend: str,
    *,
    broker_url: str = "memory://",
    queue: str = "dcr-bench",
    capture: bool = True,
    set_as_current: bool = False,
    result_expires: timedelta = timedelta(days=1),
) -> Celery:
    """A Celery app with the benchmark tasks, whose results go to ``backend`` (by name).

    With ``capture``, chord callbacks and ``celery.chord_unlock`` tasks are recorded in this
    process (``CAPTURED_CALLBACKS``, ``CAPTURED_UNLOCKS``) instead of being published.
    """
    app = Celery(f"dcr_bench_{uuid.uuid4().hex[:6]}", set_as_current=set_as_current)
    app.conf.update(
        broker_url=broker_url,
        result_backend=backend,
        cache_backend="default",
        result_expires=result_expires,
        result_chord_join_timeout=60,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )

    @app.task(name=CALLBACK_TASK, base=_CapturedCallback, shared=False)
    def collect(values: list[Any]) -> list[Any]:
        """The chord body (never run: its sends are captured)."""
        return values

    @app.task(name=STAMP_TASK, shared=False)
    def stamp(delay: float) -> float:
        """Sleep ``delay`` seconds, then return the wall-clock time the task ended at."""
        time.sleep(delay)
        return time.time()

    if capture:
        unlock = app.tasks["celery.chord_unlock"]

        def capture_unlock(
            args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None, **_: Any
        ) -> AsyncResult[Any]:
            CAPTURED_UNLOCKS.append((tuple(args or ()), dict(kwargs or {})))
            return app.AsyncResult(str(uuid.uuid4()))

        # Backends without an atomic counter send Celery's polling unlock task at apply_chord;
        # it is recorded here and run once, eagerly, after the last part has returned.
        setattr(unlock, "apply_async", capture_unlock)  # noqa: B010 - instance override
    return app
