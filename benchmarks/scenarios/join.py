"""The join scenario: a group of stored results joined as Celery joins it (natively when it can)."""

from __future__ import annotations

from typing import Any

from celery import states
from celery.result import GroupResult

from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.measure import count_summary, counting, ok_result, timed
from benchmarks.scenarios.primitives import bench_task_id, prime, setup_block

__all__ = ["scenario_join"]


def _stored_group(bench: Bench, label: str, size: int) -> GroupResult:
    backend: Any = bench.app.backend
    ids = [bench_task_id(bench, label, i) for i in range(size)]
    with setup_block(bench):
        for i, task_id in enumerate(ids):
            backend.store_result(task_id, i, states.SUCCESS)
    # Fresh AsyncResult objects: nothing cached on them.
    return bench.app.GroupResult(
        f"{bench.tag}-{label}", [bench.app.AsyncResult(task_id) for task_id in ids]
    )


def _join(group: GroupResult) -> list[Any]:
    # What Celery itself does (e.g. the chord unlock): native when the backend supports it.
    join = group.join_native if group.supports_native_join else group.join
    values: list[Any] = join(timeout=60, propagate=True)
    return values


def scenario_join(bench: Bench) -> dict[str, Any]:
    """Join a group of ``scale.join`` stored results."""
    size = bench.scale.join
    prime(bench)
    group = _stored_group(bench, "join-count", size)
    with counting(bench) as trips:
        values = _join(group)
        count = trips.take()
    native = bool(group.supports_native_join)
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        group = _stored_group(bench, f"join-{run}", size)
        with timed(bench, runs):
            values = _join(group)
        if values != list(range(size)):
            raise AssertionError("join: wrong values")
    return ok_result(runs, "s/join", count_summary([count]), size=size, native=native)
