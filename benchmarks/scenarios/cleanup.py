"""The cleanup scenario: ``backend.cleanup()`` over a backlog of expired rows; time and memory."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from celery import states

from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.measure import counting, ok_result, skipped, timed

__all__ = ["scenario_cleanup"]


def _task_table(bench: Bench) -> tuple[Any, str]:
    from django.apps import apps
    from django.db import connections

    model = apps.get_model("django_celery_results", "TaskResult")
    connection = connections[bench.alias]
    return connection, connection.ops.quote_name(model._meta.db_table)


def _seed(bench: Bench, prefix: str, rows: int, done: datetime) -> None:
    """Insert ``rows`` SUCCESS rows finished at ``done``, generated inside the database."""
    from django.apps import apps

    model = apps.get_model("django_celery_results", "TaskResult")
    connection, table = _task_table(bench)
    quote = connection.ops.quote_name
    names = ("task_id", "status", "content_type", "content_encoding", "result", "meta")
    columns = [*names, "date_created", "date_done"]
    fields = {f.name: f for f in model._meta.concrete_fields}
    column_sql = ", ".join(quote(fields[name].column) for name in columns)
    date = fields["date_done"].get_db_prep_value(done, connection)
    constants = [states.SUCCESS, "application/json", "utf-8", '{"n": 1}', '{"children": []}']
    constants += [date, date]
    rest = ", ".join(["%s"] * len(constants))
    if connection.vendor == "postgresql":
        source = f"SELECT CONCAT(%s, g), {rest} FROM generate_series(1, %s) AS g"
        params: list[Any] = [prefix, *constants, rows]
    elif connection.vendor == "mysql":
        # MariaDB's sequence engine: a virtual table of the integers 1..rows.
        source = f"SELECT CONCAT(%s, seq), {rest} FROM seq_1_to_{int(rows)}"
        params = [prefix, *constants]
    else:
        source = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
            f"SELECT %s || n, {rest} FROM g"
        )
        params = [rows, prefix, *constants]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({column_sql}) {source}", params)


def _row_count(bench: Bench) -> int:
    connection, table = _task_table(bench)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        row = cursor.fetchone()
    return int(row[0])


def _empty_tables(bench: Bench) -> None:
    from django.apps import apps
    from django.db import connections

    connection = connections[bench.alias]
    with connection.cursor() as cursor:
        for model in apps.get_app_config("django_celery_results").get_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def _seed_backlog(bench: Bench, rows: int) -> None:
    _empty_tables(bench)
    now = datetime.now(timezone.utc)
    _seed(bench, f"{bench.tag}-expired-", rows, now - timedelta(days=2))
    _seed(bench, f"{bench.tag}-fresh-", bench.scale.cleanup_keep, now)


def _check_cleaned(bench: Bench) -> None:
    left = _row_count(bench)
    if left != bench.scale.cleanup_keep:
        raise AssertionError(f"cleanup left {left} rows, expected {bench.scale.cleanup_keep}")


def _rss_kib(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak is this call's own.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cleanup_memory(bench: Bench, rows: int) -> dict[str, Any]:
    """Peak memory (Python heap by tracemalloc, and RSS growth) and statements of one cleanup."""
    backend: Any = bench.app.backend
    _seed_backlog(bench, rows)
    gc.collect()
    rss_before = _rss_kib("VmRSS")
    rss_reset = _reset_peak_rss()
    tracemalloc.start()
    with counting(bench) as trips:
        backend.cleanup()
        statements = trips.take()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _rss_kib("VmHWM")
    _check_cleaned(bench)
    growth = (hwm - rss_before) * 1024 if rss_reset and hwm and rss_before else None
    return {
        "rows": rows,
        "peak_python_bytes": peak,
        "rss_growth_bytes": growth,
        "statements": statements,
    }


def scenario_cleanup(bench: Bench, rows: int | None = None) -> dict[str, Any]:
    """Delete ``scale.cleanup_rows`` expired rows (and keep the fresh ones): ``backend.cleanup``.

    Times are per cleanup call. Memory is measured in separate passes (tracemalloc slows
    Python down), at this backlog and at ``scale.cleanup_small_rows``, to show whether the
    peak grows with the number of rows.
    """
    if bench.kind != "db":
        return skipped("a cache expires its keys itself")
    rows = rows or bench.scale.cleanup_rows
    backend: Any = bench.app.backend
    runs: list[float] = []
    for _ in range(bench.scale.cleanup_repeats if rows == bench.scale.cleanup_rows else 1):
        _seed_backlog(bench, rows)
        with timed(bench, runs):
            backend.cleanup()
        _check_cleaned(bench)
    memory = [_cleanup_memory(bench, rows)]
    if rows == bench.scale.cleanup_rows:
        memory.insert(0, _cleanup_memory(bench, bench.scale.cleanup_small_rows))
    _empty_tables(bench)
    return ok_result(
        runs, "s/cleanup", {"per_cleanup": memory[-1]["statements"]}, rows=rows, memory=memory
    )
