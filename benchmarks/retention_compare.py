"""Retention at scale (issue 14): our cleanup with a policy beside the old package's cleanup.

Our ``backend.cleanup()`` with a retention policy, side by side with the old package's
cleanup (``django-celery-results==2.6.0``) and ours without a policy.

Each run gets a scratch database (``tests.oldpkg.scratch_database``), migrated by the package
under test, seeded inside the database with ``--rows`` expired task results (two days old;
states SUCCESS, SUCCESS, FAILURE, STARTED and task names ``proj.report``, ``proj.other``, none,
in turn) and 1,000 fresh ones. The policy used deletes exactly the rows ``result_expires = 1 day``
deletes (SUCCESS, FAILURE, a per-task SUCCESS rule and ``default``: four rules), so the three
runs do the same work and differ only in how. Each is timed once, then re-seeded and measured
for memory: peak Python heap (tracemalloc) and peak RSS growth (VmHWM reset before the call).

    .venv/bin/python -m benchmarks.retention_compare --rows 100000 --targets default,postgres
    .venv/bin/python -m benchmarks.retention_compare --rows 1000000   # long: tens of minutes

The old package runs in the cached venv of ``tests.oldpkg`` (created on first use with pip).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["SEED_MODULE", "main", "run_one"]

#: Imported by the scripts of both packages: seeding, timing and memory, no package code.
SEED_MODULE = r"""
import gc, json, time, tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from django.apps import apps
from django.db import connection

def _table():
    model = apps.get_model("django_celery_results", "TaskResult")
    fields = {f.name: f for f in model._meta.concrete_fields}
    return model, fields, connection.ops.quote_name(model._meta.db_table)

def empty():
    with connection.cursor() as cursor:
        for model in apps.get_app_config("django_celery_results").get_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")

def seed(prefix, rows, done):
    model, fields, table = _table()
    q = connection.ops.quote_name
    cols = ["task_id", "status", "task_name", "content_type", "content_encoding", "result",
            "date_created", "date_done"]
    col_sql = ", ".join(q(fields[c].column) for c in cols)
    date = fields["date_done"].get_db_prep_value(done, connection)
    status = "CASE MOD(n, 4) WHEN 2 THEN 'FAILURE' WHEN 3 THEN 'STARTED' ELSE 'SUCCESS' END"
    name = "CASE MOD(n, 3) WHEN 0 THEN 'proj.report' WHEN 1 THEN 'proj.other' END"
    if connection.vendor == "sqlite":
        status = status.replace("MOD(n, 4)", "(n % 4)")
        name = name.replace("MOD(n, 3)", "(n % 3)")
    rest = "%s, %s, %s, %s, %s"
    consts = ["application/json", "utf-8", '{"n": 1}', date, date]
    if connection.vendor == "postgresql":
        src = f"SELECT CONCAT(%s, n), {status}, {name}, {rest} FROM generate_series(1, %s) AS g(n)"
        params = [prefix, *consts, rows]
    elif connection.vendor == "mysql":
        src = (f"SELECT CONCAT(%s, seq), {status.replace('n,', 'seq,')}, "
               f"{name.replace('n,', 'seq,')}, {rest} FROM seq_1_to_{int(rows)}")
        params = [prefix, *consts]
    else:
        src = ("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
               f"SELECT %s || n, {status}, {name}, {rest} FROM g")
        params = [rows, prefix, *consts]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({col_sql}) {src}", params)

def backlog(rows):
    empty()
    now = datetime.now(timezone.utc)
    seed("expired-", rows, now - timedelta(days=2))
    seed("fresh-", 1000, now)

def left():
    model, _, table = _table()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cursor.fetchone()[0])

def _rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0

def measure(rows, call):
    backlog(rows)
    statements = []
    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)
    with connection.execute_wrapper(count):
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
    remaining = left()
    backlog(rows)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss("VmHWM")
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown = _rss("VmHWM") - before
    print(json.dumps({"seconds": seconds, "statements": len(statements), "left": remaining,
                      "heap_kib": peak // 1024, "rss_kib": grown}))
"""

_SCRIPT = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
from celery import Celery
from django_celery_results.backends.database import DatabaseBackend
import dcr_retention_seed as s
app = Celery("bench", set_as_current=True)
app.conf.update(result_backend="django-db", result_expires=86400)
backend = DatabaseBackend(app=app)
s.measure({rows}, backend.cleanup)
"""

POLICY = {
    "SUCCESS": 86400,
    "FAILURE": 86400,
    "default": 86400,
    "tasks": {"proj.report": {"SUCCESS": 86400}},
}


def run_one(kind: str, alias: str, rows: int) -> dict[str, Any]:
    """One measured cleanup: ``kind`` is ``old``, ``ours`` or ``ours+policy``."""
    from tests.oldpkg import run_current, run_old, scratch_database

    settings = {"DJANGO_CELERY_RESULTS_RETENTION": POLICY} if kind == "ours+policy" else {}
    with tempfile.TemporaryDirectory() as tmp, scratch_database(alias, Path(tmp)) as entry:
        run = run_old if kind == "old" else run_current
        out = run(
            _SCRIPT.format(rows=rows),
            databases={"default": entry},
            settings=settings,
            modules={"dcr_retention_seed": SEED_MODULE},
        )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result["left"] != 1000:
        raise AssertionError(f"{kind} on {alias} left {result['left']} rows, expected 1000")
    return result


def main(argv: list[str] | None = None) -> None:
    """Run old, ours and ours with the policy on each target; print a markdown table."""
    import django  # here: the module's constants stay importable without Django

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--targets", default="default,postgres,mariadb")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    out = sys.stdout
    out.write("| target | rows | run | time | statements | peak heap | peak RSS growth |\n")
    out.write("| --- | --- | --- | --- | --- | --- | --- |\n")
    for alias in args.targets.split(","):
        for kind in ("old", "ours", "ours+policy"):
            r = run_one(kind, alias, args.rows)
            out.write(
                f"| {alias} | {args.rows:,} | {kind} | {r['seconds'] * 1000:,.0f} ms | "
                f"{r['statements']} | {r['heap_kib']} KiB | {r['rss_kib']} KiB |\n"
            )
            out.flush()


if __name__ == "__main__":
    main()
