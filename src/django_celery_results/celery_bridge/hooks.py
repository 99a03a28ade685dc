"""The Celery hooks both backends implement alike, written once.

``DatabaseBackend`` and ``CacheBackend`` differ in their storage steps, not in how a kept state
is reported, which failures are worth a retry, how long a chord's callback may go unsent or
how a chord's header arrives from Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from celery import Celery
from celery.backends.base import BaseBackend
from celery.exceptions import ChordError
from celery.result import GroupResult

from ..domain.records import PartCount
from ..domain.retry import RetryPolicy
from .chords import on_part_counted, recover_chords
from .polling import NativeJoin
from .recovery import RecoveryReport, chord_recovery_grace
from .retrying import retrying

__all__ = ["CELERY_RETRIES_GROUP_STEPS", "DatabaseAlias", "SharedHooks", "StateWrite"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Whether Celery itself runs ``save_group``, ``delete_group``, ``get_group_meta`` and
#: ``forget`` under ``result_backend_always_retry``. Celery 5.7 does (``BaseBackend.
#: _ensure_retryable``); 5.3-5.6 retry only ``store_result`` and ``get_task_meta``, so a
#: client's ``GroupResult.save()`` failed on the first transient error (a locked SQLite
#: database, a reset connection). Where Celery does not, ``SharedHooks`` retries those four
#: itself, with the same settings: one retry loop on every Celery version, never two nested.
#: Read at call time, so tests can take either side on any Celery.
CELERY_RETRIES_GROUP_STEPS = hasattr(BaseBackend, "_ensure_retryable")

#: A Django database alias, or None for "as the routers say".
DatabaseAlias = str | None


@attrs.frozen
class StateWrite:
    """One state of a task as Celery's ``_store_result`` hook hands it to a backend.

    Attributes:
        task_id: the task's id.
        result: the result as Celery encoded it (``encode_result``).
        state: the state's name.
        traceback: the failure's formatted traceback, if any.
        request: the task's request (None: the current task's, if any).
        using: a database alias pinned for this write (the old ``django-db`` keyword).
    """

    task_id: str
    result: Any
    state: str
    traceback: str | None
    request: Any
    using: DatabaseAlias


class SharedHooks(NativeJoin):
    """Mixed into both backends before Celery's base class (after ``NativeJoin``'s join).

    A backend supplies its storage steps: ``_write_state`` (store one state of a task under
    the transition policy and say whether it was written) and the four chord steps that
    ``chords`` runs in its shared sequence (``_chord_header``, ``_claimer``,
    ``_callback_done``, ``_finish_chord``).
    """

    #: Set by Celery's ``Backend.__init__``.
    app: Celery

    if TYPE_CHECKING:

        def chord_error_from_stack(self, callback: Any, exc: Exception | None = None) -> Any:
            """Celery's: store ``exc`` as the callback's result and run its errbacks."""

    #: ``GroupResult.join_native`` reads every pending member in one read per poll.
    supports_native_join = True

    #: Which storage failures Celery's ``result_backend_always_retry`` loop may retry.
    _retry_policy = RetryPolicy()

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        using: DatabaseAlias = None,
        **kwargs: Any,
    ) -> Any:
        """Store a task's state, never replacing a stored SUCCESS (Celery's hook).

        ``using`` is the old ``django-db`` backend's keyword pinning a database alias for the
        call; a backend with no databases ignores it, as it ignores other keywords.
        """
        written = self._write_state(StateWrite(task_id, result, state, traceback, request, using))
        self._report_kept(written, task_id, state)
        return result

    @staticmethod
    def _report_kept(written: bool, task_id: str, state: str) -> None:
        """Log that a state was not written because the stored one may not be replaced."""
        if not written:
            logger.info(
                "Result of task %s kept as stored: state %s may not replace it", task_id, state
            )

    def _write_state(self, write: StateWrite) -> bool:
        """Store one state of a task; return whether it was written (the backend's step)."""
        raise NotImplementedError

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        """Whether Celery's ``result_backend_always_retry`` loop may retry after ``exc``.

        Only transient storage failures qualify (a lost connection, a deadlock or lock timeout,
        a cache server that could not be reached, timed out or was failing over); the adapter
        that raised it has already reset the failed connection of its own alias.
        """
        return self._retry_policy.is_retryable(exc)

    # -- Celery's group and forget steps, retried where Celery does not (before 5.7) ---------

    def _retried_as_celery_does(self, what: str, step: Callable[[], _T]) -> _T:
        """``step()`` (Celery's public method), retried by us only where Celery will not."""
        if CELERY_RETRIES_GROUP_STEPS:
            return step()
        return retrying(self, step, what)

    def save_group(self, group_id: str, result: Any) -> Any:
        """Store a group's members (Celery's), retried on transient errors on every Celery."""
        return self._retried_as_celery_does(
            f"Saving group {group_id}",
            lambda: super(SharedHooks, self).save_group(group_id, result),  # type: ignore[misc]
        )

    def delete_group(self, group_id: str) -> None:
        """Delete a group (Celery's), retried on transient errors on every Celery."""
        self._retried_as_celery_does(
            f"Deleting group {group_id}",
            lambda: super(SharedHooks, self).delete_group(group_id),  # type: ignore[misc]
        )

    def get_group_meta(self, group_id: str, cache: bool = True) -> Any:
        """Read a group (Celery's), retried on transient errors on every Celery."""
        return self._retried_as_celery_does(
            f"Reading group {group_id}",
            lambda: super(SharedHooks, self).get_group_meta(group_id, cache=cache),  # type: ignore[misc]
        )

    def forget(self, task_id: str) -> None:
        """Forget a task's result (Celery's), retried on transient errors on every Celery."""
        self._retried_as_celery_does(
            f"Forgetting task {task_id}",
            lambda: super(SharedHooks, self).forget(task_id),  # type: ignore[misc]
        )

    @property
    def chord_recovery_grace(self) -> timedelta:
        """How long a finished chord's callback may go unsent before recovery sends it.

        ``DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE`` (seconds or a timedelta; default five
        minutes). A claim older than this is taken over, so keep it well above the time a
        callback takes to send (``result_chord_join_timeout`` plus the broker's publish).
        """
        return chord_recovery_grace()

    def _chord_header_of(self, header_result_args: Any) -> GroupResult:
        """The chord's header as ``apply_chord`` receives it (a result or its arguments)."""
        header = (
            header_result_args
            if isinstance(header_result_args, GroupResult)
            else self.app.GroupResult(*header_result_args)
        )
        if not header.id:
            raise ChordError("A chord header needs a group id to be counted")
        return header

    # -- chords: the backend's storage steps in the shared sequence (``chords``) -------------

    def _chord_header(self, group_id: str) -> GroupResult | None:
        """The chord's header as stored (None when it is gone: deleted or expired)."""
        raise NotImplementedError

    def _claimer(self, grace: timedelta) -> Callable[[str], bool]:
        """One claimer of chords' callbacks: ``claim(group_id)`` is False if another took it.

        A claim older than ``grace`` is taken over; the same claimer retrying its claim (its
        reply lost) recognises its own.
        """
        raise NotImplementedError

    def _callback_done(self, group_id: str) -> None:
        """Record that the chord's callback was sent (or its ChordError stored)."""
        raise NotImplementedError

    def _finish_chord(self, group_id: str, header: GroupResult | None) -> None:
        """Drop the chord's bookkeeping (``header`` is None when it was gone)."""
        raise NotImplementedError

    def _part_counted(self, request: Any, group_id: str, part: PartCount) -> None:
        """What follows counting a header task: ``chords.on_part_counted``, on our steps."""
        claim = self._claimer(self.chord_recovery_grace)
        on_part_counted(
            self,
            request,
            group_id,
            part,
            read_header=lambda: self._chord_header(group_id),
            finish_chord=lambda header: self._finish_chord(group_id, header),
            claim_callback=lambda: claim(group_id),
            callback_done=lambda: self._callback_done(group_id),
        )

    def _recover(
        self, grace: timedelta, due: Callable[[], list[tuple[str, Any]]]
    ) -> RecoveryReport:
        """Chord recovery (``chords.recover_chords``) of the chords ``due()`` lists."""
        return recover_chords(
            self,
            grace,
            due=due,
            claim_callback=self._claimer(grace),
            read_header=self._chord_header,
            callback_done=self._callback_done,
            finish_chord=self._finish_chord,
        )
