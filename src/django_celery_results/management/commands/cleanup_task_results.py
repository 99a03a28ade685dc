"""``manage.py cleanup_task_results``: apply the retention policy (or ``result_expires``) now.

What ``backend.cleanup()`` does daily, on demand: with ``--dry-run`` it only counts; options
override the policy for one run; a progress bar shows on a terminal.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ...celery_bridge.retention import (
    command_store,
    configured_policy,
    expires_age,
    retention_target,
    run_cleanup,
)
from ...domain.results import RetentionReport
from ...domain.retention import (
    DEFAULT_KEY,
    ProgressCallback,
    RetentionPolicy,
    RetentionRule,
    RetentionTarget,
    format_duration,
    narrowed,
    parse_duration,
)
from ..base import TranslatedCommand

__all__ = ["Command"]

#: The word that keeps results for ever in ``--keep``.
NEVER = "never"
_BAR_WIDTH = 30


class Command(TranslatedCommand):
    """Delete (or count) the task results the retention policy says are due."""

    # Marked here, translated per command (argparse cannot take a lazy string).
    help = gettext_noop(
        "Delete the task results that DJANGO_CELERY_RESULTS_RETENTION (else Celery's "
        "result_expires) says are due, with group results and chord counters. --dry-run only "
        "counts. A progress bar shows when stdout is a terminal."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--dry-run``, ``--older-than``, ``--state``, ``--task-name``, ``--keep``, ..."""
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Count what would be deleted; delete nothing."),
        )
        parser.add_argument(
            "--older-than",
            metavar="DURATION",
            help=_(
                "Delete every selected result older than DURATION (e.g. 3600, 90m, 12h, 7d, 2w), "
                "instead of the policy's ages."
            ),
        )
        parser.add_argument(
            "--state",
            action="append",
            metavar="STATE",
            help=_(
                "Only results in this state (repeatable). Group results and chord counters "
                "are then left alone."
            ),
        )
        parser.add_argument(
            "--task-name",
            action="append",
            metavar="NAME",
            help=_(
                "Only results of this task (repeatable). Group results and chord counters "
                "are then left alone."
            ),
        )
        parser.add_argument(
            "--keep",
            action="append",
            metavar="[TASK:]STATE=DURATION",
            help=_(
                "Override the policy for this run: keep STATE (or 'default') results, of TASK "
                "if given, for DURATION, or 'never' to keep them (repeatable)."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            metavar="ROWS",
            help=_(
                "Rows per DELETE (default: DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE, else the "
                "database's own step)."
            ),
        )
        parser.add_argument(
            "--database",
            metavar="ALIAS",
            help=_("The database alias to clean (default: as the routers send the writes)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Work out the rules, apply them, and print what went per state and task name."""
        batch_size: int | None = options["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1, got %d") % batch_size)
        using: str | None = options["database"]
        if using is not None and using not in connections.databases:
            raise CommandError(
                _("--database: unknown alias %(alias)r; DATABASES has %(known)s")
                % {"alias": using, "known": ", ".join(sorted(connections.databases))}
            )
        try:
            policy = configured_policy()
        except ImproperlyConfigured as exc:  # the message names the setting and its key
            raise CommandError(str(exc)) from exc
        expires = expires_age(current_app.conf.result_expires)
        rules, groups_age = self._rules(options, policy, expires)
        dry_run: bool = options["dry_run"]
        store = command_store(using)
        target = retention_target(using)
        show_bar = not dry_run and target is not None and self.stdout.isatty()
        bar = _ProgressBar(self, target) if show_bar and target is not None else None
        started = time.monotonic()
        report = run_cleanup(
            store,
            using,
            policy,
            rules,
            groups_age,
            batch_size=batch_size,
            dry_run=dry_run,
            progress_for=bar.start if bar is not None else None,
        )
        if bar is not None:
            bar.finish()
        self._print(report, time.monotonic() - started)

    def _rules(
        self, options: dict[str, Any], policy: RetentionPolicy, expires: timedelta | None
    ) -> tuple[list[RetentionRule], timedelta | None]:
        """The rules of this run, and the age of groups and chord counters (None: kept)."""
        older_than = options["older_than"]
        if older_than is not None:
            if options["keep"]:
                raise CommandError(_("--older-than and --keep cannot be combined"))
            try:
                age = parse_duration(older_than, "--older-than")
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            policy = RetentionPolicy(ages={DEFAULT_KEY: age})
        for keep in options["keep"] or ():
            policy = policy.override(**_keep_override(keep))
        states = frozenset(options["state"]) if options["state"] else None
        for state in states or ():
            if not state or state != state.upper():
                raise CommandError(
                    _("--state: %r is not a state name (capitals, e.g. SUCCESS)") % state
                )
        names = frozenset(options["task_name"]) if options["task_name"] else None
        rules = narrowed(policy.rules(expires), states, names)
        narrowing = states is not None or names is not None
        return rules, None if narrowing else policy.default_age(expires)

    def _print(self, report: RetentionReport, seconds: float) -> None:
        """One line a rule, one for groups and chord counters, and the total with the time."""
        if report.dry_run:
            rule_line = _(
                "would delete %(rows)d task results: state %(states)s, task %(names)s, "
                "older than %(age)s"
            )
            rest_line = _("would delete %(groups)d group results and %(chords)d chord counters")
            total = _(
                "Dry run: %(rows)d task results would be deleted (%(seconds).2fs); nothing deleted"
            )
        else:
            rule_line = _(
                "deleted %(rows)d task results: state %(states)s, task %(names)s, "
                "older than %(age)s"
            )
            rest_line = _("deleted %(groups)d group results and %(chords)d chord counters")
            total = _("Deleted %(rows)d task results in %(seconds).2fs")
        for outcome in report.rules:
            states, names = outcome.rule.selection.describe()
            values = {"rows": outcome.rows, "states": states, "names": names}
            self.stdout.write(rule_line % {**values, "age": format_duration(outcome.rule.keep)})
        if report.untargeted:
            values = {"rows": report.untargeted, "states": "*", "names": "*"}
            self.stdout.write(rule_line % {**values, "age": "-"})
        if report.groups is not None:
            self.stdout.write(rest_line % {"groups": report.groups, "chords": report.chords or 0})
        else:
            self.stdout.write(_("group results and chord counters: kept"))
        self.stdout.write(total % {"rows": report.tasks, "seconds": seconds})


def _keep_override(text: str) -> dict[str, Any]:
    """``[TASK:]STATE=DURATION`` as ``RetentionPolicy.override`` keywords."""
    where = f"--keep {text}"
    key, sep, value = text.partition("=")
    task, colon, state = key.rpartition(":")
    if not sep or not state or (colon and not task):
        raise CommandError(
            _("%s: expected [TASK:]STATE=DURATION, e.g. SUCCESS=1d or proj.tasks.report:default=2h")
            % where
        )
    if state != DEFAULT_KEY and state != state.upper():
        raise CommandError(
            _("%s: the state must be in capitals (e.g. SUCCESS) or 'default'") % where
        )
    try:
        age = None if value.strip().lower() == NEVER else parse_duration(value, where)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if task:
        return {"task_ages": {task: {state: age}}}
    return {"ages": {state: age}}


class _ProgressBar:
    """One bar a rule on a terminal: rows deleted of rows counted, redrawn after each batch."""

    def __init__(self, command: BaseCommand, target: RetentionTarget) -> None:
        self.command = command
        self.target = target
        self.total = 0
        self.label = ""
        self.drawn = False

    def start(self, rule: RetentionRule, cutoff: datetime) -> ProgressCallback:
        """Count the rule's rows (one COUNT) and draw its empty bar."""
        self.finish()
        self.total = self.target.count_done_before(rule.selection, cutoff)
        states, names = rule.selection.describe()
        self.label = f"{states} / {names}"
        self.draw(0)
        return self.draw

    def draw(self, deleted: int) -> None:
        """Redraw the bar at ``deleted`` rows."""
        total = max(self.total, deleted, 1)
        filled = _BAR_WIDTH * deleted // total
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self.command.stdout.write(
            f"\r{self.label} [{bar}] {deleted}/{max(self.total, deleted)}", ending=""
        )
        self.command.stdout.flush()
        self.drawn = True

    def finish(self) -> None:
        """End the current bar's line."""
        if self.drawn:
            self.command.stdout.write("")
            self.drawn = False
