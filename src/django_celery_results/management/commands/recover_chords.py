"""``manage.py recover_chords``: send the callbacks of finished chords that no worker sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ...celery_bridge.recovering import recovering_backend
from ...celery_bridge.recovery import chord_recovery_grace
from ..base import TranslatedCommand

__all__ = ["Command"]


class Command(TranslatedCommand):
    """Chord recovery on demand (``backend.cleanup()`` runs it daily too)."""

    #: Marked for translation here, translated per instance (argparse needs a plain str).
    help = gettext_noop(
        "Send the callbacks of chords whose header tasks all finished but whose callback no "
        "worker sent (the worker died after counting the last part). Uses the project's "
        "Celery app's backend (django-db or django-cache; django-db for any other)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--grace SECONDS``, ``--limit N``, ``--dry-run``."""
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help=_(
                "Seconds a finished chord's callback may go unsent before it is recovered "
                "(default: DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE, else 300)."
            ),
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=100,
            help=_("Chords read per batch (default 100)."),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("List the chords that would be recovered; send nothing."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Recover (or list) the stuck chords and print what was done."""
        grace_seconds: float | None = options["grace"]
        if grace_seconds is not None and grace_seconds < 0:
            raise CommandError(
                _("--grace must be 0 or more seconds, got %(value)s") % {"value": grace_seconds}
            )
        limit: int = options["limit"]
        if limit < 1:
            raise CommandError(_("--limit must be at least 1, got %(value)d") % {"value": limit})
        grace = (
            chord_recovery_grace() if grace_seconds is None else timedelta(seconds=grace_seconds)
        )
        backend = recovering_backend()
        if options["dry_run"]:
            due = backend.chords_awaiting_recovery(grace, limit)
            for group_id in due:
                self.stdout.write(
                    _("would send the callback of chord %(group)s") % {"group": group_id}
                )
            self.stdout.write(
                _("%(count)d chords to recover (dry run: nothing sent)") % {"count": len(due)}
            )
            return
        report = backend.recover_chords(grace=grace, limit=limit)
        for group_id in report.sent:
            self.stdout.write(_("sent the callback of chord %(group)s") % {"group": group_id})
        for group_id in report.unreadable:
            self.stderr.write(
                _("chord %(group)s: its stored callback cannot be read") % {"group": group_id}
            )
        self.stdout.write(
            _("Chord recovery: %(sent)d callbacks sent, %(unreadable)d unreadable")
            % {"sent": len(report.sent), "unreadable": len(report.unreadable)}
        )
