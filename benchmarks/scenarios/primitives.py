"""The operations every scenario is made of: ids, values, one store, one read, set-up writes."""

from __future__ import annotations

import contextlib
from typing import Any

from benchmarks.scenarios.bench import Bench

__all__ = ["bench_task_id", "bench_value", "prime", "read_one", "setup_block", "store_one"]


def bench_task_id(bench: Bench, label: str, index: int) -> str:
    """An id of this bench's run, unique per label and index."""
    return f"{bench.tag}-{label}-{index}"


def bench_value(index: int) -> dict[str, Any]:
    """The small result stored at ``index`` (what every write stores)."""
    return {"n": index, "text": "result"}


def store_one(bench: Bench, task_id: str, value: Any, state: str) -> None:
    """One ``store_result`` (or the limit's one upsert)."""
    if bench.driver is not None:
        bench.driver.upsert(task_id, value, state)
        return
    backend: Any = bench.app.backend
    backend.store_result(task_id, value, state)


def read_one(bench: Bench, task_id: str) -> Any:
    """One uncached read of the stored result (or the limit's one ``SELECT``)."""
    if bench.driver is not None:
        return bench.driver.select(task_id)
    backend: Any = bench.app.backend
    return backend.get_task_meta(task_id, cache=False)["result"]


def prime(bench: Bench) -> None:
    """One read, so connecting (and its set-up statements) is not counted as a round trip."""
    read_one(bench, f"{bench.tag}-prime")


def setup_block(bench: Bench) -> contextlib.AbstractContextManager[Any]:
    """Untimed set-up writes in one transaction (one commit, not one per row) on a database."""
    if bench.kind != "db" or bench.driver is not None:
        return contextlib.nullcontext()
    from django.db import transaction

    return transaction.atomic(using=bench.alias)
