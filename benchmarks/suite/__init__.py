"""The benchmark suite: the same scenarios against ours, the old package and the bare driver.

Run it with ``./benchmarks/run`` (which sets up ``.venv`` first, then runs
``python -m benchmarks.suite``); ``--help`` lists the options.

For each target (SQLite, PostgreSQL, MariaDB through ``django-db``; local memory, Redis,
Memcached through ``django-cache``) it makes scratch databases (one per implementation, dropped
at the end), then runs ``benchmarks.scenarios`` in a fresh process per implementation:

- ``ours`` with this venv's Python (the project installed editable);
- ``old`` with ``.venv-bench-old``, a venv holding ``django-celery-results==2.6.0`` and exactly
  the Django, Celery, kombu and driver versions installed here (built on first use);
- ``limit`` (databases only) with this venv's Python and no backend at all: the same row
  upserted and read by one statement through the bare driver;
- ``django`` (databases only): the limit's statements sent through Django's cursor instead,
  the floor for any backend that uses Django's connection.

The quick scenarios (store, update, get, join, chord) run in ``rounds`` interleaved passes of
one repeat each, alternating which implementation goes first, so that a machine getting slower
or faster during the run moves every implementation alike; the slow ones (two-process chords,
cleanup, the real worker) run once, with their own repeats. The figures are then compared
with issue 5's bar; for each target missed, both packages' timed regions are profiled with
cProfile and summarised. Everything is printed and written to BENCHMARKS.md.

The modules, in the order a run goes through them:

- ``config``: paths, implementations, scenario groups, server addresses (``TEST_*``, ``BENCH_*``);
- ``targets``: the stores measured and probes of their servers;
- ``oldvenv``: the old package's venv; ``scratch``: databases made for the run;
- ``measured`` (``Cell``, ``Run``) and ``running``: the scenario processes, interleaved;
- ``bar``: issue 5's bar; ``profiles``: cProfile runs of the misses;
- ``format``, ``sections``, ``environment`` and ``report``: BENCHMARKS.md;
- ``cli``: the command line (``__main__`` runs it: ``python -m benchmarks.suite``).
"""

from __future__ import annotations

from benchmarks.suite.bar import Check, evaluate
from benchmarks.suite.cli import main
from benchmarks.suite.measured import Cell, Run
from benchmarks.suite.report import render
from benchmarks.suite.targets import TARGETS, Target

__all__ = ["TARGETS", "Cell", "Check", "Run", "Target", "evaluate", "main", "render"]
