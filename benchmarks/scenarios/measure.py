"""Measuring a scenario: round trips per operation, timed blocks, and the result it returns."""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.roundtrips import (
    CACHE_METHODS,
    RoundTrips,
    calls_counted,
    statements_counted,
)

__all__ = ["count_summary", "counting", "ok_result", "skipped", "timed"]


@contextlib.contextmanager
def counting(bench: Bench) -> Iterator[RoundTrips]:
    """Count the round trips ``bench``'s store sees while the block runs (this thread)."""
    counter = RoundTrips()
    if bench.driver is not None:
        bench.driver.counter = counter
        try:
            yield counter
        finally:
            bench.driver.counter = None
        return
    if bench.kind == "db":
        with statements_counted(bench.alias, counter):
            yield counter
        return
    targets: list[tuple[type, str]]
    if bench.vendor == "redis":
        from redis.connection import AbstractConnection

        # One packed send per command, or per pipeline (its commands travel together).
        targets = [(AbstractConnection, "send_packed_command")]
    elif bench.vendor == "memcached":
        from pymemcache.client.base import Client  # type: ignore[import-untyped]

        targets = [(Client, name) for name in ("_fetch_cmd", "_store_cmd", "_misc_cmd")]
    else:
        from django.core.cache.backends.locmem import LocMemCache

        targets = [(LocMemCache, name) for name in CACHE_METHODS]
    with calls_counted(targets, counter):
        yield counter


def count_summary(values: Sequence[int]) -> dict[str, float]:
    """Mean, min, max and number of the round trips counted per operation."""
    return {
        "mean": statistics.fmean(values) if values else 0.0,
        "min": min(values, default=0),
        "max": max(values, default=0),
        "ops": len(values),
    }


@contextlib.contextmanager
def timed(
    bench: Bench, sink: list[float], per: int = 1, *, profiled: bool = True
) -> Iterator[None]:
    """Append the block's wall time divided by ``per`` to ``sink``.

    With ``profiled`` (the default) the block is also profiled when ``bench.profiler`` is set.
    """
    gc.collect()
    profiler = bench.profiler if profiled else None
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        sink.append(elapsed / per)


def ok_result(
    runs: Sequence[float], unit: str, round_trips: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A scenario's report: every timed run, their median, round trips and ``extra``."""
    return {
        "status": "ok",
        "unit": unit,
        "runs": list(runs),
        "median": statistics.median(runs) if runs else None,
        "round_trips": round_trips,
        **extra,
    }


def skipped(reason: str) -> dict[str, Any]:
    """The report of a scenario that does not apply here, with the reason."""
    return {"status": "skipped", "reason": reason}
