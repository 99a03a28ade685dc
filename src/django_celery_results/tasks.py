"""Celery tasks this package offers: schedule ``recover_chords`` more often than daily.

``celery.backend_cleanup`` (daily, when beat runs and ``result_expires`` is set) already runs
chord recovery. To send stuck callbacks sooner, add to the beat schedule::

    CELERY_BEAT_SCHEDULE = {
        "recover-chords": {
            "task": "django_celery_results.recover_chords",
            "schedule": 300.0,
        },
    }
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from .celery_bridge.recovering import recovering_backend

__all__ = ["recover_chords"]


@shared_task(name="django_celery_results.recover_chords", ignore_result=True)
def recover_chords(grace: float | None = None) -> int:
    """Send the callbacks of finished chords that no worker sent; return how many were sent.

    ``grace`` (seconds) overrides ``DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE``.
    """
    backend = recovering_backend()
    report = backend.recover_chords(grace=None if grace is None else timedelta(seconds=grace))
    return len(report.sent)
