"""``manage.py task_results_stats`` on every database: exact figures, JSON, errors, queries.

Rows are written with known states, finish times and run times (``date_done`` and
``date_started`` set by a plain ``UPDATE`` after the insert, since the model stamps
``date_done`` itself), then the command runs with a fixed ``--until``; every figure is
asserted exactly: counts by state, failure rate, percentiles (linear interpolation, as
PostgreSQL's ``percentile_cont``), hourly throughput and stuck tasks.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_celery_results.adapters.django_orm.models import TaskResult
from django_celery_results.management.commands.task_results_stats import Command
from tests.integration.orm_support import queries_on
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__")

UNTIL = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
SINCE = UNTIL - timedelta(hours=24)
ADD = "proj.add"
MUL = "proj.mul"
#: Statements per report: counts, throughput, percentiles, stuck counts, stuck list.
QUERIES = 5


def put(
    alias: str,
    task_id: str,
    status: str,
    done: datetime,
    *,
    name: str | None = None,
    run: float | None = None,
    worker: str | None = None,
) -> None:
    """Store one row finished (or last updated) at ``done``, started ``run`` seconds before."""
    TaskResult._default_manager.using(alias).create(
        task_id=task_id, task_name=name, status=status, worker=worker
    )
    started = None if run is None else done - timedelta(seconds=run)
    TaskResult._default_manager.using(alias).filter(task_id=task_id).update(
        date_done=done, date_started=started
    )


@pytest.fixture
def stored(db_alias: str) -> str:
    """Rows of two task names and one unnamed row at known times, states and run times.

    proj.add: 10 successes of 1..10 s, 2 failures of 20 and 30 s, a revoke; proj.mul: a
    0.25 s success, stuck and fresh STARTED rows, a PENDING and a RETRY.
    """
    hour = timedelta(hours=1)
    for second in range(1, 11):
        # Successes 1-5 s finish in the last hour's bucket, 6-10 s three hours before the end.
        done = UNTIL - (timedelta(minutes=30) if second <= 5 else 3 * hour - timedelta(minutes=1))
        put(db_alias, f"add-ok-{second}", "SUCCESS", done, name=ADD, run=second)
    put(db_alias, "add-fail-1", "FAILURE", SINCE, name=ADD, run=20)  # at since: counted
    put(db_alias, "add-fail-2", "FAILURE", UNTIL - 2 * hour, name=ADD, run=30)
    put(db_alias, "add-revoked", "REVOKED", UNTIL - 2 * hour, name=ADD)
    put(db_alias, "add-old", "SUCCESS", SINCE - timedelta(seconds=1), name=ADD, run=1)
    put(db_alias, "add-at-until", "SUCCESS", UNTIL, name=ADD, run=1)  # the end is excluded
    put(db_alias, "mul-ok", "SUCCESS", UNTIL - 5 * hour, name=MUL, run=0.25)
    # STARTED rows: date_done is when STARTED was stored, the same moment as date_started.
    put(db_alias, "mul-stuck", "STARTED", UNTIL - 3 * hour, name=MUL, run=0, worker="w1")
    put(db_alias, "mul-stuck-old", "STARTED", UNTIL - 72 * hour, name=MUL, run=0, worker="w2")
    put(db_alias, "mul-fresh", "STARTED", UNTIL - timedelta(minutes=30), name=MUL, run=0)
    put(db_alias, "mul-pending", "PENDING", UNTIL - hour, name=MUL)
    put(db_alias, "mul-retry", "RETRY", UNTIL - hour, name=MUL)
    put(db_alias, "unnamed", "SUCCESS", UNTIL - hour)
    return db_alias


def stats(alias: str, *args: str) -> dict[str, Any]:
    """The command's ``--json`` output on ``alias``, parsed."""
    out = StringIO()
    call_command("task_results_stats", "--json", f"--database={alias}", *args, stdout=out)
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


def by_name(report: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """The report's task entries by task name."""
    return {task["task_name"]: task for task in report["tasks"]}


def test_figures_per_task_name(stored: str) -> None:
    """Counts by state over [since, until), failure rate, p50/p95 and stuck counts are exact."""
    report = stats(stored, f"--until={UNTIL.isoformat()}")
    tasks = by_name(report)
    assert [task["task_name"] for task in report["tasks"]] == [ADD, MUL, None]
    add = tasks[ADD]
    assert add["states"] == {"FAILURE": 2, "REVOKED": 1, "SUCCESS": 10}
    assert (add["total"], add["finished"], add["failures"]) == (13, 13, 2)
    assert add["failure_rate"] == pytest.approx(2 / 13)
    # Sorted run times 1..10, 20, 30 (n = 12): p50 at 5.5 -> 6.5; p95 at 10.45 -> 24.5.
    assert add["run_time"] == {
        "timed": 12,
        "p50_seconds": pytest.approx(6.5),
        "p95_seconds": pytest.approx(24.5),
    }
    assert add["stuck"] == 0
    mul = tasks[MUL]
    assert mul["states"] == {"PENDING": 1, "RETRY": 1, "STARTED": 2, "SUCCESS": 1}
    assert mul["failure_rate"] == 0.0
    assert mul["run_time"] == {"timed": 1, "p50_seconds": 0.25, "p95_seconds": 0.25}
    assert mul["stuck"] == 2  # the 3 h one and the 72 h one (outside the window too)
    unnamed = tasks[None]
    assert unnamed["run_time"] == {"timed": 0, "p50_seconds": None, "p95_seconds": None}
    assert report["run_times_recorded"] is True


def test_throughput_per_hour(stored: str) -> None:
    """Finished tasks per UTC hour, one count per bucket start, zeros included."""
    report = stats(stored, f"--until={UNTIL.isoformat()}")
    starts = report["bucket_starts"]
    assert report["bucket"] == "hour"
    assert len(starts) == 24
    assert starts[0] == SINCE.isoformat()
    assert starts[-1] == (UNTIL - timedelta(hours=1)).isoformat()
    add = by_name(report)[ADD]["throughput"]
    expected = [0] * 24
    expected[0] = 1  # add-fail-1 at since
    expected[21] = 5  # 6-10 s successes at 09:01
    expected[22] = 2  # fail-2 and the revoke at 10:00
    expected[23] = 5  # 1-5 s successes at 11:30
    assert add == expected
    total = list(expected)
    total[19] += 1  # mul-ok at 07:00
    total[23] += 1  # the unnamed success at 11:00
    assert report["throughput"] == total


def test_stuck_tasks_listed_oldest_first(stored: str) -> None:
    """STARTED rows started before until - stuck_after are listed, oldest first, limited."""
    report = stats(stored, f"--until={UNTIL.isoformat()}", "--stuck-after=2h")
    assert report["stuck_after_seconds"] == 7200
    assert report["stuck_before"] == (UNTIL - timedelta(hours=2)).isoformat()
    assert [
        (task["task_id"], task["worker"], task["stuck_seconds"]) for task in report["stuck_tasks"]
    ] == [("mul-stuck-old", "w2", 72 * 3600.0), ("mul-stuck", "w1", 3 * 3600.0)]
    limited = stats(stored, f"--until={UNTIL.isoformat()}", "--stuck-limit=1")
    assert [task["task_id"] for task in limited["stuck_tasks"]] == ["mul-stuck-old"]
    assert by_name(limited)[MUL]["stuck"] == 2
    longer = stats(stored, f"--until={UNTIL.isoformat()}", "--stuck-after=4h")
    assert by_name(longer)[MUL]["stuck"] == 1


def test_task_name_filter_and_window(stored: str) -> None:
    """``--task-name`` keeps one name; ``--window`` and ``--since`` move the start."""
    report = stats(stored, f"--until={UNTIL.isoformat()}", f"--task-name={ADD}")
    assert [task["task_name"] for task in report["tasks"]] == [ADD]
    assert report["task_name"] == ADD
    hour = stats(stored, f"--until={UNTIL.isoformat()}", "--window=1h")
    assert hour["bucket"] == "minute"
    assert len(hour["bucket_starts"]) == 60
    assert by_name(hour)[ADD]["states"] == {"SUCCESS": 5}
    assert by_name(hour)[ADD]["run_time"]["p50_seconds"] == pytest.approx(3.0)
    since = (UNTIL - timedelta(hours=2)).isoformat()
    ranged = stats(stored, f"--since={since}", f"--until={UNTIL.isoformat()}", "--bucket=day")
    assert ranged["bucket_starts"] == ["2026-12-02T00:00:00+00:00"]
    assert by_name(ranged)[ADD]["throughput"] == [7]  # fail-2, the revoke, 1-5 s successes


def test_query_count_is_fixed(stored: str) -> None:
    """Five statements whatever the number of task names; four when no stuck task is listed."""
    with queries_on(stored) as captured:
        stats(stored, f"--until={UNTIL.isoformat()}")
    assert len(captured.captured_queries) == QUERIES, captured.captured_queries
    with queries_on(stored) as captured:
        stats(stored, f"--until={UNTIL.isoformat()}", "--stuck-limit=0")
    assert len(captured.captured_queries) == QUERIES - 1


def test_without_window_functions(stored: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without window functions (SQLite < 3.25) the percentiles come from offset queries.

    The same figures; one statement more, and two per task name with timed rows.
    """
    monkeypatch.setattr(connections[stored].features, "supports_over_clause", False)
    with queries_on(stored) as captured:
        report = stats(stored, f"--until={UNTIL.isoformat()}")
    tasks = by_name(report)
    assert tasks[ADD]["run_time"] == {
        "timed": 12,
        "p50_seconds": pytest.approx(6.5),
        "p95_seconds": pytest.approx(24.5),
    }
    assert tasks[MUL]["run_time"] == {"timed": 1, "p50_seconds": 0.25, "p95_seconds": 0.25}
    assert tasks[None]["run_time"]["timed"] == 0
    assert len(captured.captured_queries) == QUERIES + 2 * 2  # proj.add and proj.mul


def test_table_output(stored: str) -> None:
    """The readable form: a row per task name, the hourly series, the stuck tasks."""
    out = StringIO()
    call_command(
        "task_results_stats", f"--database={stored}", f"--until={UNTIL.isoformat()}", stdout=out
    )
    text = out.getvalue()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("task name"))
    assert header.split() == [
        "task", "name", "total", "SUCCESS", "FAILURE", "REVOKED", "STARTED", "RETRY",
        "PENDING", "failure", "rate", "p50", "p95", "stuck",
    ]  # fmt: skip
    add_row = next(line for line in lines if line.startswith(ADD))
    assert add_row.split() == [ADD, "13", "10", "2", "1", "0", "0", "0", "15.4%", "6.500s",
                               "24.500s", "0"]  # fmt: skip
    assert "2026-12-02 09:00  5" in lines
    assert "Stuck in STARTED for more than 1:00:00: 2" in text
    assert any(line.split()[:3] == ["mul-stuck", MUL, "w1"] for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window=3"], "--window must be a duration such as 90s, 15m, 1h, 24h, 7d or 2w"),
        (["--window=0m"], "--window must be between 1m and 366 days"),
        (["--window=400d"], "--window must be between 1m and 366 days"),
        (["--stuck-after=10s"], "--stuck-after must be between 1m and 366 days"),
        (["--since=yesterday"], "--since must be an ISO 8601 date and time"),
        (["--until=2026-13-01T00:00"], "--until must be an ISO 8601 date and time"),
        (["--since=2026-12-02T12:00Z", "--window=1h"], "give --window or --since, not both"),
        (
            ["--since=2026-12-02T12:00Z", "--until=2026-12-02T11:00Z"],
            "--since must be between 1m and 366 days before --until",
        ),
        (["--stuck-limit=1001"], "--stuck-limit must be between 0 and 1000"),
        (
            ["--window=7d", "--bucket=minute"],
            "--bucket minute over 7 days, 0:00:00 makes more than 1000 buckets",
        ),
        (["--database=nowhere"], "--database: no database 'nowhere'"),
    ],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    """Each bad argument is a CommandError that names the argument and its limit."""
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("task_results_stats", *args, stdout=StringIO())


def test_database_defaults_to_the_routers(stored: str) -> None:
    """Without ``--database`` the command reads where the router sends TaskResult reads."""
    out = StringIO()
    with route_results_to(stored):
        call_command("task_results_stats", "--json", f"--until={UNTIL.isoformat()}", stdout=out)
    assert by_name(json.loads(out.getvalue()))[ADD]["total"] == 13


def test_no_start_times_says_how_to_record_them(db_alias: str) -> None:
    """Without date_started the run times are empty and the table says how to fill them."""
    put(db_alias, "plain", "SUCCESS", UNTIL - timedelta(minutes=5))
    report = stats(db_alias, f"--until={UNTIL.isoformat()}")
    assert report["run_times_recorded"] is False
    out = StringIO()
    call_command(
        "task_results_stats", f"--database={db_alias}", f"--until={UNTIL.isoformat()}", stdout=out
    )
    assert "CELERY_TASK_TRACK_STARTED = True" in out.getvalue()
    assert "CELERY_RESULT_EXTENDED = True" in out.getvalue()


def test_empty_window(db_alias: str) -> None:
    """No rows: no task entries, a zero series, still the same statements."""
    with queries_on(db_alias) as captured:
        report = stats(db_alias, f"--until={UNTIL.isoformat()}")
    assert report["tasks"] == []
    assert report["throughput"] == [0] * 24
    assert report["schema"] == 1
    assert len(captured.captured_queries) == QUERIES


def test_help_renders() -> None:
    """``--help`` prints (the help text is translated per instance, a plain str for argparse)."""
    command = Command()
    text = command.create_parser("manage.py", "task_results_stats").format_help()
    assert "CELERY_TASK_TRACK_STARTED" in text
    assert "--stuck-after" in text


def test_without_use_tz(db_alias: str, settings: Any) -> None:
    """With ``USE_TZ = False`` the table holds naive local times (here UTC): same figures."""
    settings.USE_TZ = False
    naive = UNTIL.replace(tzinfo=None)
    for second in (1, 2, 3):
        put(db_alias, f"naive-{second}", "SUCCESS", naive - timedelta(minutes=5), name=ADD,
            run=second)  # fmt: skip
    put(db_alias, "naive-stuck", "STARTED", naive - timedelta(hours=2), name=ADD, run=0)
    report = stats(db_alias, f"--until={UNTIL.isoformat()}")
    add = by_name(report)[ADD]
    assert add["states"] == {"STARTED": 1, "SUCCESS": 3}
    assert add["run_time"] == {"timed": 3, "p50_seconds": 2.0, "p95_seconds": 2.9}
    assert add["throughput"][-1] == 3
    assert report["stuck_tasks"][0]["started"] == (UNTIL - timedelta(hours=2)).isoformat()


@pytest.mark.parametrize("use_tz", [True, False])
def test_until_defaults_to_now(db_alias: str, settings: Any, use_tz: bool) -> None:
    """Without ``--until`` the window ends now (UTC, with or without USE_TZ)."""
    settings.USE_TZ = use_tz
    before = datetime.now(timezone.utc)
    report = stats(db_alias)
    until = datetime.fromisoformat(report["until"])
    assert before <= until <= datetime.now(timezone.utc)
    assert datetime.fromisoformat(report["since"]) == until - timedelta(hours=24)
