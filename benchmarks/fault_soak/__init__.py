"""The fault soak: a real worker stores thousands of results through a proxy that breaks.

For each store (PostgreSQL and MariaDB through ``django-db``, Redis through ``django-cache``):

1. a scratch database (or a key prefix on Redis) is made and migrated, directly;
2. ``benchmarks/faultproxy.py`` listens on a loopback port in front of the store;
3. a prefork worker (2 processes, ``benchmarks/soak_app.py``, RabbitMQ, a queue of its own)
   reaches the store only through the proxy, with ``result_backend_always_retry`` and the
   README's retry settings;
4. the work is sent: single tasks (most succeed, some fail on purpose, some retry through
   Celery's ``Task.retry`` before succeeding), groups of 50 and chords of 50 whose callback
   notes each of its runs in a file (directly, never through the proxy);
5. once the worker is busy, the proxy's faults begin: every live connection reset at random
   every 0.5-3 s, and all connections refused once for 10 s;
6. the driver waits for every result, reading the store directly (not through the proxy), then
   checks each one: the state and result each task must end with, each chord callback run
   exactly once. It prints the counts and exits 1 on any loss, wrong state or doubled callback.

``./scripts/fault-soak`` runs it (``--short`` for CI's few-minute version, ``--help`` for all);
RELIABILITY.md holds the figures of the full run.

The modules: ``plan`` (stores, workload, fault schedule, the report's counts), ``stores``
(scratch databases), ``processes`` (the proxy and the worker), ``work`` (sending, waiting,
checking), ``one_store`` (one store's run) and ``cli`` (the command line; ``__main__`` runs it:
``python -m benchmarks.fault_soak``).
"""

from __future__ import annotations

from benchmarks.fault_soak.cli import main
from benchmarks.fault_soak.one_store import run_store
from benchmarks.fault_soak.plan import FaultSchedule, SoakReport, Workload

__all__ = ["FaultSchedule", "SoakReport", "Workload", "main", "run_store"]
