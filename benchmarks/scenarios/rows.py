"""Scenarios on one row at a time: store a new result, update it (STARTED then SUCCESS), read it."""

from __future__ import annotations

import statistics
from typing import Any

from celery import states

from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.measure import count_summary, counting, ok_result, timed
from benchmarks.scenarios.primitives import (
    bench_task_id,
    bench_value,
    prime,
    read_one,
    setup_block,
    store_one,
)

__all__ = ["scenario_get", "scenario_store", "scenario_update"]


def scenario_store(bench: Bench) -> dict[str, Any]:
    """Store ``scale.store`` new SUCCESS results, one ``store_result`` each."""
    n = bench.scale.store
    prime(bench)
    counts = []
    with counting(bench) as trips:
        for i in range(bench.scale.count_ops):
            store_one(bench, bench_task_id(bench, "store-count", i), bench_value(i), states.SUCCESS)
            counts.append(trips.take())
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        ids = [bench_task_id(bench, f"store-{run}", i) for i in range(n)]
        with timed(bench, runs, per=n):
            for i, task_id in enumerate(ids):
                store_one(bench, task_id, bench_value(i), states.SUCCESS)
        if read_one(bench, ids[-1]) != bench_value(n - 1):
            raise AssertionError(f"store: {ids[-1]} does not read back")
    return ok_result(runs, "s/op", count_summary(counts), ops=n)


def scenario_update(bench: Bench) -> dict[str, Any]:
    """Take ``scale.update`` results through STARTED then SUCCESS; the SUCCESS write is timed.

    The STARTED write (the row's first) is timed separately and reported as ``started``.
    """
    n = bench.scale.update
    started_value = {"pid": 4242, "hostname": "bench@host"}
    prime(bench)
    started_counts, success_counts = [], []
    with counting(bench) as trips:
        for i in range(bench.scale.count_ops):
            task_id = bench_task_id(bench, "update-count", i)
            store_one(bench, task_id, started_value, states.STARTED)
            started_counts.append(trips.take())
            store_one(bench, task_id, bench_value(i), states.SUCCESS)
            success_counts.append(trips.take())
    started_runs: list[float] = []
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        ids = [bench_task_id(bench, f"update-{run}", i) for i in range(n)]
        with timed(bench, started_runs, per=n, profiled=False):
            for task_id in ids:
                store_one(bench, task_id, started_value, states.STARTED)
        with timed(bench, runs, per=n):
            for i, task_id in enumerate(ids):
                store_one(bench, task_id, bench_value(i), states.SUCCESS)
        if read_one(bench, ids[-1]) != bench_value(n - 1):
            raise AssertionError(f"update: {ids[-1]} does not read back")
    return ok_result(
        runs,
        "s/op",
        count_summary(success_counts),
        ops=n,
        started={
            "runs": started_runs,
            "median": statistics.median(started_runs),
            "round_trips": count_summary(started_counts),
        },
    )


def scenario_get(bench: Bench) -> dict[str, Any]:
    """Read ``scale.get`` stored results, uncached (``get_task_meta(cache=False)``).

    The reads cycle over ``scale.get_distinct`` results stored beforehand.
    """
    n = bench.scale.get
    distinct = [bench_task_id(bench, "get", i) for i in range(min(n, bench.scale.get_distinct))]
    with setup_block(bench):
        for i, task_id in enumerate(distinct):
            store_one(bench, task_id, bench_value(i), states.SUCCESS)
    ids = [distinct[i % len(distinct)] for i in range(n)]
    prime(bench)
    counts = []
    with counting(bench) as trips:
        for task_id in ids[: bench.scale.count_ops]:
            read_one(bench, task_id)
            counts.append(trips.take())
    runs: list[float] = []
    for _ in range(bench.scale.repeats):
        with timed(bench, runs, per=n):
            for task_id in ids:
                read_one(bench, task_id)
    for i in (0, len(distinct) - 1):
        if read_one(bench, distinct[i]) != bench_value(i):
            raise AssertionError(f"get: {distinct[i]} does not read back")
    return ok_result(runs, "s/op", count_summary(counts), ops=n)
