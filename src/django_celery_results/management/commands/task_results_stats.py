"""``manage.py task_results_stats``: per-task-name figures of the ``django-db`` results.

Counts by state, failure rate, run-time percentiles, throughput and stuck tasks over a window,
computed in the database (``adapters/django_orm/stats.py``), printed as a table or as JSON
(``--json``, the keys of ``domain.stats.StatsReport.as_json``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import router
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ...adapters.django_orm.models import TaskResult
from ...adapters.django_orm.stats import compute_stats
from ...domain import states
from ...domain.stats import (
    MAX_BUCKETS,
    MAX_STUCK_LISTED,
    MAX_WINDOW,
    MIN_WINDOW,
    Bucket,
    StatsQuery,
    StatsReport,
    default_bucket,
    parse_duration,
)
from ..base import TranslatedCommand

__all__ = ["Command"]

_STATE_ORDER = (
    states.SUCCESS,
    states.FAILURE,
    states.REVOKED,
    states.STARTED,
    states.RETRY,
    states.RECEIVED,
    states.PENDING,
)


def _duration(option: str, text: str) -> timedelta:
    """A duration option between MIN_WINDOW and MAX_WINDOW, or a CommandError naming it."""
    try:
        value = parse_duration(text)
    except ValueError:
        raise CommandError(
            _("%(option)s must be a duration such as 90s, 15m, 1h, 24h, 7d or 2w, got %(value)r")
            % {"option": option, "value": text}
        ) from None
    if not MIN_WINDOW <= value <= MAX_WINDOW:
        raise CommandError(
            _("%(option)s must be between %(min)s and %(max)s days, got %(value)s")
            % {"option": option, "min": "1m", "max": MAX_WINDOW.days, "value": text}
        )
    return value


def _moment(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 date and time (naive: UTC), or a CommandError naming the option."""
    if text is None:
        return None
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise CommandError(
            _("%(option)s must be an ISO 8601 date and time, e.g. 2026-12-01T08:00Z, got %(value)r")
            % {"option": option, "value": text}
        )
    return value if django_timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


class Command(TranslatedCommand):
    """The statistics of the stored task results, per task name."""

    #: Marked for translation here, translated per instance (argparse needs a plain str).
    help = gettext_noop(
        "Per task name over a window: counts by state, failure rate, run time p50/p95 (where "
        "start times are stored: CELERY_TASK_TRACK_STARTED), throughput per bucket and tasks "
        "stuck in STARTED. Reads the django-db tables."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The window, the buckets, the stuck threshold, filters and the output form."""
        parser.add_argument(
            "--window",
            default=None,
            help=_("How far back from --until to look, e.g. 1h, 24h, 7d (default 24h)."),
        )
        parser.add_argument(
            "--since",
            default=None,
            help=_("Window start, ISO 8601 (naive: UTC); not with --window."),
        )
        parser.add_argument(
            "--until", default=None, help=_("Window end, ISO 8601 (naive: UTC); default now.")
        )
        parser.add_argument(
            "--bucket",
            choices=[bucket.value for bucket in Bucket],
            default=None,
            help=_(
                "Throughput bucket width (default: minute up to 2h, hour up to 7d, else day); "
                "at most %(max)d buckets."
            )
            % {"max": MAX_BUCKETS},
        )
        parser.add_argument(
            "--stuck-after",
            default="1h",
            help=_("A task in STARTED for longer than this is stuck (default 1h)."),
        )
        parser.add_argument(
            "--stuck-limit",
            type=int,
            default=20,
            help=_("How many stuck tasks to list, oldest first (default 20, 0 to %(max)d).")
            % {"max": MAX_STUCK_LISTED},
        )
        parser.add_argument("--task-name", default=None, help=_("Only this task name."))
        parser.add_argument(
            "--database",
            default=None,
            help=_("The database alias to read (default: the router's for TaskResult)."),
        )
        parser.add_argument(
            "--json", action="store_true", help=_("Print JSON (schema in the README).")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the options, compute the figures, print them."""
        database = options["database"] or router.db_for_read(TaskResult)
        if database not in settings.DATABASES:
            raise CommandError(
                _("--database: no database %(alias)r in DATABASES (known: %(known)s)")
                % {"alias": database, "known": ", ".join(settings.DATABASES)}
            )
        query = self._query(options)
        report = compute_stats(query, using=database, now=datetime.now(dt_timezone.utc))
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self.stdout.write(_table(report, database))

    def _query(self, options: dict[str, Any]) -> StatsQuery:
        now = datetime.now(dt_timezone.utc)
        since = _moment("--since", options["since"])
        until = _moment("--until", options["until"]) or now
        if since is not None and options["window"] is not None:
            raise CommandError(_("give --window or --since, not both"))
        if since is None:
            since = until - _duration("--window", options["window"] or "24h")
        elif not MIN_WINDOW <= until - since <= MAX_WINDOW:
            raise CommandError(
                _("--since must be between 1m and %(max)s days before --until, got %(span)s")
                % {"max": MAX_WINDOW.days, "span": until - since}
            )
        stuck_limit: int = options["stuck_limit"]
        if not 0 <= stuck_limit <= MAX_STUCK_LISTED:
            raise CommandError(
                _("--stuck-limit must be between 0 and %(max)d, got %(value)d")
                % {"max": MAX_STUCK_LISTED, "value": stuck_limit}
            )
        bucket = Bucket(options["bucket"]) if options["bucket"] else default_bucket(until - since)
        try:
            return StatsQuery(
                since=since,
                until=until,
                bucket=bucket,
                stuck_after=_duration("--stuck-after", options["stuck_after"]),
                task_name=options["task_name"],
                stuck_limit=stuck_limit,
            )
        except ValueError:  # the bucket count: the one limit not checked above
            raise CommandError(
                _(
                    "--bucket %(bucket)s over %(span)s makes more than %(max)d buckets: choose "
                    "a wider --bucket or a shorter window"
                )
                % {"bucket": bucket.value, "span": until - since, "max": MAX_BUCKETS}
            ) from None


def _states_in(report: StatsReport) -> list[str]:
    seen = {state for task in report.tasks for state in task.states}
    return [state for state in _STATE_ORDER if state in seen] + sorted(seen - set(_STATE_ORDER))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _rows_as_text(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _table(report: StatsReport, database: str) -> str:
    query = report.query
    lines = [
        _("Task results from %(since)s to %(until)s (database %(database)s)")
        % {"since": query.since.isoformat(), "until": query.until.isoformat(), "database": database}
    ]
    if not report.tasks:
        lines.append(_("No task results in this window."))
    else:
        state_names = _states_in(report)
        header = [_("task name"), _("total"), *state_names, _("failure rate"), "p50", "p95"]
        rows = [[*header, _("stuck")]]
        for task in report.tasks:
            rate = task.failure_rate
            rows.append(
                [
                    task.task_name or _("(no name)"),
                    str(task.total),
                    *(str(task.states.get(state, 0)) for state in state_names),
                    "-" if rate is None else f"{rate:.1%}",
                    _seconds(task.run_times.p50),
                    _seconds(task.run_times.p95),
                    str(task.stuck),
                ]
            )
        lines += ["", *_rows_as_text(rows)]
    lines += ["", _("Finished tasks per %(bucket)s (UTC):") % {"bucket": query.bucket.value}]
    lines += _rows_as_text(
        [
            [start.strftime("%Y-%m-%d %H:%M"), str(count)]
            for start, count in zip(query.bucket_starts, report.throughput, strict=True)
        ]
    )
    lines += [
        "",
        _("Stuck in STARTED for more than %(after)s: %(count)d")
        % {"after": query.stuck_after, "count": sum(task.stuck for task in report.tasks)},
    ]
    lines += [
        f"  {task.task_id}  {task.task_name or '-'}  {task.worker or '-'}  "
        f"{task.started.isoformat()}"
        for task in report.stuck_tasks
    ]
    if report.tasks and not report.run_times_recorded:
        lines += [
            "",
            _(
                "No run times: no finished task in the window stored a start time. Set "
                "CELERY_TASK_TRACK_STARTED = True (Celery's task_track_started) so workers "
                "store STARTED and its time."
            ),
        ]
    if report.tasks and not report.task_names_recorded:
        lines += [
            _(
                "No task names: they are stored only with CELERY_RESULT_EXTENDED = True "
                "(Celery's result_extended)."
            )
        ]
    return "\n".join(lines)
