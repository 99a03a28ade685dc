"""The retention policy on django-db: its setting, its target, and one run of it.

``DJANGO_CELERY_RESULTS_RETENTION`` (parsed by ``domain.retention.RetentionPolicy``) says how
long task results are kept per state and per task name; ``DatabaseBackend.cleanup()`` (Celery's
daily ``celery.backend_cleanup``) and ``manage.py cleanup_task_results`` apply it here. Without
the setting, cleanup is what it always was: everything older than ``result_expires``.

Per-rule deletes need the ORM's tables (``TableRetention``); with other repositories
(``DJANGO_CELERY_RESULTS_REPOSITORIES = "memory"`` or a dotted path) only the policy's default
age applies, to everything, and a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..domain.clock import SystemClock
from ..domain.results import ExpiryReport, ResultStore, RetentionReport
from ..domain.retention import (
    ProgressCallback,
    RetentionPolicy,
    RetentionRule,
    RetentionTarget,
)
from .composition import SETTING as REPOSITORIES_SETTING
from .composition import configured_repositories, orm_repositories, orm_result_store

__all__ = [
    "RETENTION_SETTING",
    "command_store",
    "configured_policy",
    "expires_age",
    "retention_target",
    "run_cleanup",
]

logger = logging.getLogger(__name__)

#: The setting of the retention policy.
RETENTION_SETTING = "DJANGO_CELERY_RESULTS_RETENTION"


def configured_policy() -> RetentionPolicy:
    """``DJANGO_CELERY_RESULTS_RETENTION`` parsed (an empty policy when it is not set)."""
    try:
        return RetentionPolicy.from_setting(getattr(settings, RETENTION_SETTING, None))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc


def expires_age(expires: float | timedelta | None) -> timedelta | None:
    """Celery's ``result_expires`` as an age; None (keep for ever) for 0, None or negative."""
    if expires is None:
        return None
    if not isinstance(expires, timedelta):
        expires = timedelta(seconds=float(expires))
    return expires if expires > timedelta(0) else None


def command_store(using: str | None) -> ResultStore:
    """The store a command cleans: the ORM's on ``using``, else the configured repositories."""
    if using is not None:
        return orm_result_store(using)
    return configured_repositories().result_store(SystemClock())


def retention_target(using: str | None) -> RetentionTarget | None:
    """The per-rule delete target: the ORM's on ``using``, else the configured repositories'.

    The composition root decides (the ORM's tables; None for repositories without one).
    """
    repositories = orm_repositories(using) if using is not None else configured_repositories()
    return repositories.retention


def run_cleanup(
    store: ResultStore,
    using: str | None,
    policy: RetentionPolicy,
    rules: list[RetentionRule],
    groups_age: timedelta | None,
    *,
    batch_size: int | None = None,
    dry_run: bool = False,
    progress_for: Callable[[RetentionRule, datetime], ProgressCallback | None] | None = None,
) -> RetentionReport:
    """Apply ``rules`` (from ``policy``) to ``store``'s results; groups after ``groups_age``.

    Without a per-rule target (non-ORM repositories) the policy's default age, i.e.
    ``groups_age``, applies to every task result through ``delete_expired``'s path.
    """
    target = retention_target(using)
    if target is not None:
        return store.apply_retention(
            target,
            rules,
            groups_age,
            batch_size=batch_size,
            dry_run=dry_run,
            progress_for=progress_for,
        )
    if not policy.is_empty:
        logger.warning(
            "%s: per-state and per-task retention needs the ORM repositories; %s applies "
            "one age to every result",
            RETENTION_SETTING,
            REPOSITORIES_SETTING,
        )
    if groups_age is None or dry_run:
        return RetentionReport((), None, None, dry_run)
    report: ExpiryReport = store.delete_expired(groups_age, batch_size)
    return RetentionReport((), report.groups, report.chords, dry_run, untargeted=report.tasks)
