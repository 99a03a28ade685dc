"""Per-task-name figures over a time window, shared by the command and the dashboard.

What ``task_results_stats`` prints (issue 14), and what the dashboard, its JSON and its
Prometheus forms will show (issue 13). Pure: the window and its limits, the throughput
buckets, the percentile method and the report's JSON form. The figures themselves are
computed in the database by a storage adapter (``adapters/django_orm/stats.py``), which
fills the records below.

Percentiles are linear interpolation between the two closest ranks, as PostgreSQL's
``percentile_cont`` and numpy's default: over ``n`` sorted run times ``v[0] .. v[n-1]`` the
``q``-th percentile sits at position ``q / 100 * (n - 1)``; a fractional position
interpolates between its two neighbours. ``percentile_ranks`` gives the two ranks (both in
integers, so the database and this module always agree on them), ``interpolate`` the value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Final

import attrs

from . import states

__all__ = [
    "JSON_SCHEMA_VERSION",
    "MAX_BUCKETS",
    "MAX_STUCK_LISTED",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "PERCENTILES",
    "Bucket",
    "RunTimes",
    "StatsQuery",
    "StatsReport",
    "StuckTask",
    "TaskNameStats",
    "default_bucket",
    "floor_to",
    "interpolate",
    "parse_duration",
    "percentile_ranks",
]

#: The widest window a report covers (the date_done index keeps it a range scan, but a year
#: of rows is already more than a dashboard should read at once).
MAX_WINDOW: Final = timedelta(days=366)
#: The narrowest window, and the smallest ``stuck_after``.
MIN_WINDOW: Final = timedelta(minutes=1)
#: The most throughput buckets a report holds (per task name).
MAX_BUCKETS: Final = 1000
#: The most stuck tasks a report lists one by one (all are counted).
MAX_STUCK_LISTED: Final = 1000
#: The percentiles of run time a report gives.
PERCENTILES: Final = (50, 95)
#: ``StatsReport.as_json()["schema"]``: raised when a key changes meaning or goes away.
JSON_SCHEMA_VERSION: Final = 1

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"24h"``, ``"7d"``, ``"2w"`` as a timedelta.

    Raises ``ValueError`` for anything else (a bare number, a unit not listed, a sign).
    """
    match = _DURATION.match(text)
    if match is None:
        msg = f"{text!r} is not a duration such as 90s, 15m, 1h, 24h, 7d or 2w"
        raise ValueError(msg)
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class Bucket(enum.Enum):
    """The width of a throughput bucket; buckets start on whole UTC minutes, hours or days."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def width(self) -> timedelta:
        """How long one bucket is."""
        return _BUCKET_WIDTHS[self.value]


_BUCKET_WIDTHS: Final = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


def default_bucket(span: timedelta) -> Bucket:
    """Minutes up to a 2 h window, hours up to 7 days, days beyond."""
    if span <= timedelta(hours=2):
        return Bucket.MINUTE
    if span <= timedelta(days=7):
        return Bucket.HOUR
    return Bucket.DAY


def floor_to(bucket: Bucket, when: datetime) -> datetime:
    """The start of the UTC bucket that holds ``when`` (aware), in UTC."""
    utc = when.astimezone(timezone.utc)
    if bucket is Bucket.MINUTE:
        return utc.replace(second=0, microsecond=0)
    if bucket is Bucket.HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def percentile_ranks(count: int, percent: int) -> tuple[int, int]:
    """The 0-based ranks ``(lower, upper)`` a percentile interpolates between.

    The ``percent``-th percentile of ``count`` sorted values lies between these two ranks
    (equal when its position is whole).
    Integer arithmetic only: the database computes the same ranks with the same formula.
    """
    if count < 1 or not 0 <= percent <= 100:
        msg = f"percentile_ranks needs count >= 1 and 0 <= percent <= 100, got {count}, {percent}"
        raise ValueError(msg)
    scaled = percent * (count - 1)
    return scaled // 100, (scaled + 99) // 100


def interpolate(lower: float, upper: float, count: int, percent: int) -> float:
    """The ``percent``-th percentile of ``count`` values whose two ranks hold lower / upper."""
    low_rank, _ = percentile_ranks(count, percent)
    fraction = (percent * (count - 1) - 100 * low_rank) / 100
    return lower + (upper - lower) * fraction


def _aware(instance: object, attribute: attrs.Attribute[Any], value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{attribute.name} must be an aware datetime, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class StatsQuery:
    """What a report covers; each limit is checked here, with a message naming it.

    Attributes:
        since: the window's start (rows whose ``date_done`` is at or after it), aware.
        until: the window's end (rows whose ``date_done`` is before it), aware.
        bucket: the width of a throughput bucket.
        stuck_after: how long a task may stay in STARTED before it counts as stuck.
        task_name: only this task name (None: every one).
        stuck_limit: how many stuck tasks to list (oldest first); all are counted.
    """

    since: datetime = attrs.field(validator=_aware)
    until: datetime = attrs.field(validator=_aware)
    bucket: Bucket
    stuck_after: timedelta = attrs.field()
    task_name: str | None = None
    stuck_limit: int = attrs.field(default=20)

    @until.validator
    def _check_window(self, attribute: attrs.Attribute[Any], until: datetime) -> None:
        span = until - self.since
        if span < MIN_WINDOW:
            msg = f"the window must end at least {MIN_WINDOW} after it starts, got {span}"
            raise ValueError(msg)
        if span > MAX_WINDOW:
            msg = f"the window may span at most {MAX_WINDOW.days} days, got {span}"
            raise ValueError(msg)

    @stuck_after.validator
    def _check_stuck_after(self, attribute: attrs.Attribute[Any], value: timedelta) -> None:
        if value < MIN_WINDOW:
            msg = f"stuck_after must be at least {MIN_WINDOW}, got {value}"
            raise ValueError(msg)

    @stuck_limit.validator
    def _check_stuck_limit(self, attribute: attrs.Attribute[Any], value: int) -> None:
        if not 0 <= value <= MAX_STUCK_LISTED:
            msg = f"stuck_limit must be between 0 and {MAX_STUCK_LISTED}, got {value}"
            raise ValueError(msg)

    def __attrs_post_init__(self) -> None:
        count = len(self.bucket_starts)
        if count > MAX_BUCKETS:
            msg = (
                f"{self.bucket.value} buckets over {self.until - self.since} make {count}; "
                f"at most {MAX_BUCKETS}"
            )
            raise ValueError(msg)

    @property
    def stuck_before(self) -> datetime:
        """A task still in STARTED that started before this is stuck."""
        return self.until - self.stuck_after

    @property
    def bucket_starts(self) -> tuple[datetime, ...]:
        """Every bucket's start (UTC), from the one holding ``since`` to the one before ``until``.

        The throughput series has one count per start, zeros included.
        """
        width = self.bucket.width
        start = floor_to(self.bucket, self.since)
        end = self.until.astimezone(timezone.utc)
        count = max(1, -(-(end - start) // width))
        return tuple(start + width * index for index in range(count))

    def bucket_index(self, when: datetime) -> int:
        """The position in ``bucket_starts`` of the bucket holding ``when``."""
        return (floor_to(self.bucket, when) - self.bucket_starts[0]) // self.bucket.width


@attrs.frozen
class RunTimes:
    """Run times (``date_done - date_started``) of the finished tasks that stored a start.

    Attributes:
        timed: how many finished tasks had a start time.
        p50: the median in seconds (None when ``timed`` is 0).
        p95: the 95th percentile in seconds (None when ``timed`` is 0).
    """

    timed: int = 0
    p50: float | None = None
    p95: float | None = None


@attrs.frozen
class StuckTask:
    """A task still in STARTED since before ``StatsQuery.stuck_before``."""

    task_id: str
    task_name: str | None
    worker: str | None
    started: datetime = attrs.field(validator=_aware)


def _frozen_counts(counts: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(sorted(counts.items())))


@attrs.frozen
class TaskNameStats:
    """The figures of one task name (None: rows stored without one).

    Attributes:
        task_name: the task name, or None.
        states: rows whose current state was stored in the window, by state.
        run_times: run times of its finished tasks.
        throughput: finished tasks per bucket, one count per ``StatsQuery.bucket_starts``.
        stuck: its tasks stuck in STARTED (not limited to the window).
    """

    task_name: str | None
    states: Mapping[str, int] = attrs.field(converter=_frozen_counts, eq=False)
    run_times: RunTimes = RunTimes()
    throughput: tuple[int, ...] = ()
    stuck: int = 0

    @property
    def total(self) -> int:
        """Rows stored in the window, every state."""
        return sum(self.states.values())

    @property
    def finished(self) -> int:
        """Rows in a finished state (SUCCESS, FAILURE, REVOKED)."""
        return sum(self.states.get(state, 0) for state in states.READY_STATES)

    @property
    def failures(self) -> int:
        """Rows in FAILURE."""
        return self.states.get(states.FAILURE, 0)

    @property
    def failure_rate(self) -> float | None:
        """FAILURE / finished, or None when nothing finished."""
        return self.failures / self.finished if self.finished else None


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


def _busiest_first(tasks: Iterable[TaskNameStats]) -> tuple[TaskNameStats, ...]:
    return tuple(sorted(tasks, key=lambda task: (-task.total, task.task_name or "")))


@attrs.frozen
class StatsReport:
    """The figures of every task name over ``query``'s window.

    Attributes:
        query: what the report covers.
        generated_at: when the figures were read.
        tasks: one entry per task name, the busiest first (then by name).
        stuck_tasks: the oldest stuck tasks, at most ``query.stuck_limit``.
    """

    query: StatsQuery
    generated_at: datetime = attrs.field(validator=_aware)
    tasks: tuple[TaskNameStats, ...] = attrs.field(converter=_busiest_first)
    stuck_tasks: tuple[StuckTask, ...] = ()

    @property
    def run_times_recorded(self) -> bool:
        """Whether any finished task in the window stored its start time."""
        return any(task.run_times.timed for task in self.tasks)

    @property
    def task_names_recorded(self) -> bool:
        """Whether any row in the window has a task name (stored with result_extended)."""
        return any(task.task_name is not None for task in self.tasks)

    @property
    def throughput(self) -> tuple[int, ...]:
        """Finished tasks per bucket, every task name together."""
        return tuple(
            sum(column)
            for column in zip(
                *(task.throughput for task in self.tasks),
                strict=True,
            )
        ) or tuple(0 for _ in self.query.bucket_starts)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data; keys are stable within ``JSON_SCHEMA_VERSION``."""
        query = self.query
        return {
            "schema": JSON_SCHEMA_VERSION,
            "generated_at": _iso(self.generated_at),
            "since": _iso(query.since),
            "until": _iso(query.until),
            "task_name": query.task_name,
            "bucket": query.bucket.value,
            "bucket_starts": [_iso(start) for start in query.bucket_starts],
            "stuck_after_seconds": query.stuck_after.total_seconds(),
            "stuck_before": _iso(query.stuck_before),
            "run_times_recorded": self.run_times_recorded,
            "throughput": list(self.throughput),
            "tasks": [_task_json(task) for task in self.tasks],
            "stuck_tasks": [
                {
                    "task_id": task.task_id,
                    "task_name": task.task_name,
                    "worker": task.worker,
                    "started": _iso(task.started),
                    "stuck_seconds": (query.until - task.started).total_seconds(),
                }
                for task in self.stuck_tasks
            ],
        }


def _task_json(task: TaskNameStats) -> dict[str, Any]:
    return {
        "task_name": task.task_name,
        "states": dict(task.states),
        "total": task.total,
        "finished": task.finished,
        "failures": task.failures,
        "failure_rate": task.failure_rate,
        "run_time": {
            "timed": task.run_times.timed,
            "p50_seconds": task.run_times.p50,
            "p95_seconds": task.run_times.p95,
        },
        "throughput": list(task.throughput),
        "stuck": task.stuck,
    }
