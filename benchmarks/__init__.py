"""Benchmarks and soaks: the same scenarios against this package, the old one and the bare driver.

- ``benchmarks.suite`` (``./benchmarks/run``): runs ``benchmarks.scenarios`` in a process per
  implementation and target, compares them with issue 5's bar, writes BENCHMARKS.md;
- ``benchmarks.scenarios``: the scenarios themselves, importing nothing from either package;
- ``benchmarks.fault_soak`` (``./scripts/fault-soak``): a real worker behind
  ``benchmarks.faultproxy``, a proxy that breaks connections (``soak_app``, ``soak_settings``:
  the worker's app and settings); RELIABILITY.md holds its figures.
"""

from __future__ import annotations
