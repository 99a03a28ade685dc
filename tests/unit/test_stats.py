"""``domain/stats.py``: durations, buckets, the percentile method, limits and the JSON form."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.domain.stats import (
    JSON_SCHEMA_VERSION,
    MAX_BUCKETS,
    Bucket,
    RunTimes,
    StatsQuery,
    StatsReport,
    StuckTask,
    TaskNameStats,
    default_bucket,
    floor_to,
    interpolate,
    parse_duration,
    percentile_ranks,
)

UNTIL = datetime(2026, 12, 2, 12, 30, 15, tzinfo=timezone.utc)


def query(**changes: object) -> StatsQuery:
    """A 24 h hourly query ending at UNTIL, with ``changes``."""
    values: dict[str, object] = {
        "since": UNTIL - timedelta(hours=24),
        "until": UNTIL,
        "bucket": Bucket.HOUR,
        "stuck_after": timedelta(hours=1),
    }
    values.update(changes)
    return StatsQuery(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 604800), ("2w", 1209600)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    """A whole number and one unit of s, m, h, d or w."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "3", "1y", "-1h", "1.5h", "h"])
def test_parse_duration_refuses(text: str) -> None:
    """Anything else is a ValueError that shows the accepted forms."""
    with pytest.raises(ValueError, match="such as 90s, 15m, 1h"):
        parse_duration(text)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=60))
def test_percentiles_match_linear_interpolation(values: list[float]) -> None:
    """The ranks and interpolation equal statistics.quantiles' inclusive method."""
    ordered = sorted(values)
    expected = statistics.quantiles(ordered, n=100, method="inclusive")
    for percent in (50, 95):
        lower, upper = percentile_ranks(len(ordered), percent)
        got = interpolate(ordered[lower], ordered[upper], len(ordered), percent)
        assert got == pytest.approx(expected[percent - 1], rel=1e-9, abs=1e-9)


def test_percentile_ranks_whole_and_between() -> None:
    """A whole position names one rank twice; between two ranks, both."""
    assert percentile_ranks(1, 95) == (0, 0)
    assert percentile_ranks(21, 95) == (19, 19)
    assert percentile_ranks(12, 95) == (10, 11)
    assert percentile_ranks(12, 50) == (5, 6)
    with pytest.raises(ValueError, match="count >= 1"):
        percentile_ranks(0, 50)


def test_buckets() -> None:
    """Buckets start on whole UTC units; the series covers since to until."""
    assert default_bucket(timedelta(hours=1)) is Bucket.MINUTE
    assert default_bucket(timedelta(hours=24)) is Bucket.HOUR
    assert default_bucket(timedelta(days=30)) is Bucket.DAY
    assert floor_to(Bucket.DAY, UNTIL) == datetime(2026, 12, 2, tzinfo=timezone.utc)
    starts = query().bucket_starts
    assert len(starts) == 25  # 12:00 the day before .. 12:00, UNTIL being 12:30
    assert starts[0] == datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert query().bucket_index(UNTIL) == 24


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"since": UNTIL}, "at least 0:01:00"),
        ({"since": UNTIL - timedelta(days=400)}, "at most 366 days"),
        ({"since": UNTIL.replace(tzinfo=None)}, "since must be an aware datetime"),
        ({"stuck_after": timedelta(seconds=5)}, "stuck_after must be at least"),
        ({"stuck_limit": -1}, "stuck_limit must be between 0 and 1000"),
        ({"bucket": Bucket.MINUTE}, f"at most {MAX_BUCKETS}"),
    ],
)
def test_query_limits(changes: dict[str, object], message: str) -> None:
    """Each limit is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        query(**changes)


def test_report_json() -> None:
    """Stable keys, tasks busiest first, derived figures computed from the counts."""
    window = query(since=UNTIL - timedelta(hours=2))
    busy = TaskNameStats(
        "a",
        {"SUCCESS": 3, "FAILURE": 1, "STARTED": 2},
        RunTimes(4, 1.5, 2.0),
        (1, 1, 2),
        stuck=1,
    )
    idle = TaskNameStats(None, {"PENDING": 1}, throughput=(0, 0, 0))
    started = UNTIL - timedelta(hours=3)
    report = StatsReport(
        query=window,
        generated_at=UNTIL,
        tasks=[idle, busy],
        stuck_tasks=(StuckTask("t1", "a", "w", started),),
    )
    data = report.as_json()
    assert data["schema"] == JSON_SCHEMA_VERSION
    assert [task["task_name"] for task in data["tasks"]] == ["a", None]
    assert data["tasks"][0] == {
        "task_name": "a",
        "states": {"FAILURE": 1, "STARTED": 2, "SUCCESS": 3},
        "total": 6,
        "finished": 4,
        "failures": 1,
        "failure_rate": 0.25,
        "run_time": {"timed": 4, "p50_seconds": 1.5, "p95_seconds": 2.0},
        "throughput": [1, 1, 2],
        "stuck": 1,
    }
    assert data["tasks"][1]["failure_rate"] is None
    assert data["throughput"] == [1, 1, 2]
    assert data["stuck_tasks"] == [
        {
            "task_id": "t1",
            "task_name": "a",
            "worker": "w",
            "started": started.isoformat(),
            "stuck_seconds": 10800.0,
        }
    ]
    assert sorted(data) == [
        "bucket",
        "bucket_starts",
        "generated_at",
        "run_times_recorded",
        "schema",
        "since",
        "stuck_after_seconds",
        "stuck_before",
        "stuck_tasks",
        "task_name",
        "tasks",
        "throughput",
        "until",
    ]
