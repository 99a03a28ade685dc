"""The figures of ``domain/stats.py`` computed in the database, never by loading rows.

Five statements per report whatever the number of task names (four when no stuck task is to
be listed), each bounded by what it returns:

1. counts by task name and state: ``GROUP BY task_name, status`` over the ``date_done``
   range (its index, ``django_cele_date_do_f59aad_idx``);
2. throughput: finished rows by task name and truncated ``date_done`` (one row a bucket that
   has any);
3. run-time percentiles: the finished rows with a ``date_started``, ranked by run time within
   their task name (``ROW_NUMBER() OVER (PARTITION BY task_name ...)``), of which only the at
   most four rows at the percentiles' ranks come back (``domain.stats.percentile_ranks``'s
   integer formula, in SQL); the same method on PostgreSQL, MariaDB, MySQL 8 and SQLite, equal
   to PostgreSQL's ``percentile_cont``. Where the database has no window functions (SQLite
   before 3.25, which Django 4.2 still accepts) it takes one statement and then two per task
   name (``ORDER BY`` run time with ``LIMIT``/``OFFSET`` at each percentile's ranks);
4. stuck tasks by task name: STARTED rows started before ``stuck_before`` (the ``status``
   index);
5. the oldest stuck tasks, at most ``stuck_limit`` rows.

The default ordering of the model (``-date_done``) is cleared on every grouped query, or
Django would add ``date_done`` to the ``GROUP BY``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections
from django.db.models import Count, DateTimeField, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.expressions import CombinedExpression, Window
from django.db.models.functions import Coalesce, Floor, RowNumber, Trunc
from django.utils import timezone as django_timezone

from ...domain import states
from ...domain.stats import (
    PERCENTILES,
    RunTimes,
    StatsQuery,
    StatsReport,
    StuckTask,
    TaskNameStats,
    interpolate,
    percentile_ranks,
)
from .models import TaskResult

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = ["compute_stats"]

_FINISHED = sorted(states.READY_STATES)


def compute_stats(query: StatsQuery, *, using: str, now: datetime) -> StatsReport:
    """The report of ``query`` read from database ``using``; ``now`` is its ``generated_at``."""
    window = _rows(using, query).filter(
        date_done__gte=_stored(query.since), date_done__lt=_stored(query.until)
    )
    counts: dict[str | None, dict[str, int]] = defaultdict(dict)
    for name, status, count in window.values_list("task_name", "status").annotate(
        count=Count("pk")
    ):
        counts[name][status] = count
    throughput = _throughput(window, query)
    run_times = _run_times(window)
    cutoff = _stored(query.stuck_before)
    stuck_rows = _rows(using, query).filter(
        Q(date_started__lt=cutoff) | Q(date_started__isnull=True, date_done__lt=cutoff),
        status=states.STARTED,
    )
    stuck = dict(stuck_rows.values_list("task_name").annotate(count=Count("pk")))
    listed = _stuck_tasks(stuck_rows, query.stuck_limit)
    empty = tuple(0 for _ in query.bucket_starts)
    tasks = [
        TaskNameStats(
            task_name=name,
            states=counts.get(name, {}),
            run_times=run_times.get(name, RunTimes()),
            throughput=throughput.get(name, empty),
            stuck=stuck.get(name, 0),
        )
        for name in set(counts) | set(stuck)
    ]
    return StatsReport(query=query, generated_at=now, tasks=tasks, stuck_tasks=listed)


def _rows(using: str, query: StatsQuery) -> QuerySet[TaskResult]:
    rows: QuerySet[TaskResult] = TaskResult._default_manager.using(using).order_by()
    return rows if query.task_name is None else rows.filter(task_name=query.task_name)


def _stored(when: datetime) -> datetime:
    """A date as the table holds it: aware with USE_TZ, naive local time without."""
    if settings.USE_TZ:
        return when
    return django_timezone.make_naive(when, django_timezone.get_default_timezone())


def _read(value: datetime) -> datetime:
    """A date read back, aware, in UTC."""
    if django_timezone.is_naive(value):
        value = django_timezone.make_aware(value, django_timezone.get_default_timezone())
    return value.astimezone(dt_timezone.utc)


def _throughput(
    window: QuerySet[TaskResult], query: StatsQuery
) -> dict[str | None, tuple[int, ...]]:
    truncated = Trunc(
        "date_done",
        query.bucket.value,
        output_field=DateTimeField(),
        tzinfo=dt_timezone.utc if settings.USE_TZ else None,
    )
    series: dict[str | None, list[int]] = {}
    rows = (
        window.filter(status__in=_FINISHED)
        .annotate(bucket=truncated)
        .values_list("task_name", "bucket")
        .annotate(count=Count("pk"))
    )
    for name, bucket, count in rows:
        counts = series.setdefault(name, [0] * len(query.bucket_starts))
        counts[query.bucket_index(_read(bucket))] += count
    return {name: tuple(counts) for name, counts in series.items()}


def _rank_of(percent: int, upper: bool) -> Any:
    """``percentile_ranks``'s formula in SQL, 1-based as ROW_NUMBER() counts.

    ``Floor`` makes the division whole on every database (MySQL's ``/`` is exact decimal,
    PostgreSQL's and SQLite's integer division already rounds down a non-negative value).
    """
    scaled = Value(percent) * (F("timed") - Value(1)) + Value(99 if upper else 0)
    return Floor(scaled / Value(100)) + Value(1)


def _run() -> ExpressionWrapper[CombinedExpression]:
    return ExpressionWrapper(F("date_done") - F("date_started"), output_field=DurationField())


def _run_times(window: QuerySet[TaskResult]) -> dict[str | None, RunTimes]:
    timed = window.filter(status__in=_FINISHED, date_started__isnull=False)
    if connections[window.db].features.supports_over_clause:
        values, counts = _ranked_values(timed)
    else:
        values, counts = _offset_values(timed)
    return {name: _percentiles(count, values[name]) for name, count in counts.items()}


def _percentiles(count: int, at: Mapping[int, float]) -> RunTimes:
    """The run times of ``count`` timed tasks, from the values ``at`` the percentiles' ranks."""
    p50, p95 = (
        interpolate(at[lower], at[upper], count, percent)
        for percent in PERCENTILES
        for lower, upper in [percentile_ranks(count, percent)]
    )
    return RunTimes(timed=count, p50=p50, p95=p95)


_Values = tuple[dict[str | None, dict[int, float]], dict[str | None, int]]


def _ranked_values(timed: QuerySet[TaskResult]) -> _Values:
    """One statement: the rows at the percentiles' ranks of every task name (window functions)."""
    run = _run()
    ranked = (
        timed.annotate(
            run=run,
            rank=Window(RowNumber(), partition_by=[F("task_name")], order_by=[run.asc()]),
            timed=Window(Count("pk"), partition_by=[F("task_name")]),
        )
        .filter(
            Q(
                *(
                    Q(rank=_rank_of(percent, upper))
                    for percent in PERCENTILES
                    for upper in (False, True)
                ),
                _connector=Q.OR,
            )
        )
        .values_list("task_name", "rank", "timed", "run")
    )
    values: dict[str | None, dict[int, float]] = defaultdict(dict)
    counts: dict[str | None, int] = {}
    for name, rank, count, duration in ranked:
        values[name][rank - 1] = _seconds(duration)
        counts[name] = count
    return values, counts


def _offset_values(timed: QuerySet[TaskResult]) -> _Values:
    """Without window functions (SQLite < 3.25): counts, then the rows at the ranks by offset.

    The timed count of each task name, then each percentile's one or two rows by
    ``ORDER BY run LIMIT 2 OFFSET rank``. One statement, then two a task name: bounded by
    the task names, never by the rows.
    """
    counts: dict[str | None, int] = dict(timed.values_list("task_name").annotate(timed=Count("pk")))
    values: dict[str | None, dict[int, float]] = defaultdict(dict)
    for name, count in counts.items():
        ordered = (timed.filter(task_name=name).annotate(run=_run()).order_by("run")).values_list(
            "run", flat=True
        )
        for percent in PERCENTILES:
            lower, upper = percentile_ranks(count, percent)
            for rank, duration in enumerate(ordered[lower : upper + 1], start=lower):
                values[name][rank] = _seconds(duration)
    return values, counts


def _seconds(duration: timedelta | float) -> float:
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    return float(duration) / 1_000_000  # pragma: no cover - microseconds, where not converted


def _stuck_tasks(stuck_rows: QuerySet[TaskResult], limit: int) -> tuple[StuckTask, ...]:
    if not limit:
        return ()
    started = Coalesce("date_started", "date_done")
    rows = (
        stuck_rows.annotate(started=started)
        .order_by("started", "task_id")
        .values_list("task_id", "task_name", "worker", "started")[:limit]
    )
    return tuple(
        StuckTask(task_id=task_id, task_name=name, worker=worker, started=_read(started))
        for task_id, name, worker, started in rows
    )
