"""Benchmark scenarios for a Celery result backend, identical for every implementation.

``benchmarks.suite`` (behind ``./benchmarks/run``) runs this package
(``python -m benchmarks.scenarios run --config C --out O``) once per implementation and target,
each in its own process and virtual environment:

- ``ours``: this package, through ``result_backend = "django-db"`` / ``"django-cache"``;
- ``old``: ``django-celery-results==2.6.0``, through the same names;
- ``limit``: no backend at all: the same row upserted and selected through the bare driver
  (sqlite3, psycopg, MySQLdb) in autocommit, the fastest any ORM-based backend could be;
- ``django``: the limit's SQL and parameters sent through Django's own cursor instead
  (``connections["default"].cursor()``): what any backend pays for using Django's connection.

Scenarios only use Celery's public API (``app.backend.store_result``,
``get_task_meta(cache=False)``, ``GroupResult.join_native``/``join``, ``apply_chord`` and each
header part's ``mark_as_done``, as a worker calls it), and import nothing from either package
(Celery resolves the backend by name), so both packages do exactly the same work.

Each timed scenario runs ``Scale.repeats`` times; the JSON output holds every run, and the suite
reports medians and spreads. Round trips are counted in a separate untimed pass: SQL statements
through ``connection.execute_wrapper`` plus the transaction control Django sends through the
driver (begin, commit, rollback), cache commands by wrapping the cache client (Redis: each packed
send; Memcached: each command exchange; local memory: each top-level cache call).

``tests/integration/test_benchmarks_smoke.py`` imports this package and runs a few scenarios
in-process against our backend, pinning their round-trip counts.

The modules, in the order a scenario process uses them:

- ``scale``: how much work each scenario does (``QUICK``, ``FULL``) and the scenario names;
- ``bench``: what a scenario runs against (``Bench``) and the Celery app (``make_app``);
- ``limit``: the bare-driver limit (``DriverLimit``);
- ``roundtrips`` and ``measure``: round trips counted, blocks timed, results reported;
- ``primitives``: one store, one read, ids and values;
- ``rows`` (store, update, get), ``join``, ``chords`` (one process and two), ``cleanup``,
  ``worker``: the scenarios themselves;
- ``running`` (scenarios by name), ``profiling`` (cProfile summaries), ``cli`` (the command
  line; ``__main__`` runs it).
"""

from __future__ import annotations

from benchmarks.scenarios.bench import Bench, make_app
from benchmarks.scenarios.chords import scenario_chord, scenario_chord_2proc
from benchmarks.scenarios.cleanup import scenario_cleanup
from benchmarks.scenarios.join import scenario_join
from benchmarks.scenarios.limit import DriverLimit
from benchmarks.scenarios.rows import scenario_get, scenario_store, scenario_update
from benchmarks.scenarios.running import SCENARIOS, run_scenarios
from benchmarks.scenarios.scale import ALL_SCENARIOS, FULL, LIMIT_SCENARIOS, QUICK, Scale
from benchmarks.scenarios.worker import scenario_worker

__all__ = [
    "ALL_SCENARIOS",
    "FULL",
    "LIMIT_SCENARIOS",
    "QUICK",
    "SCENARIOS",
    "Bench",
    "DriverLimit",
    "Scale",
    "make_app",
    "run_scenarios",
    "scenario_chord",
    "scenario_chord_2proc",
    "scenario_cleanup",
    "scenario_get",
    "scenario_join",
    "scenario_store",
    "scenario_update",
    "scenario_worker",
]
