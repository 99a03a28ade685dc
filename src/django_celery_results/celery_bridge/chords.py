"""The chord step both backends share: after a header task was counted, fire or fail the body.

Each backend counts a chord's header tasks its own way (a row per part and a counter in the
database, an atomic decrement in the cache) and reads the chord's header its own way (the
counter's ``sub_tasks``, the saved group). What follows a count is the same for both and is
written once here, so that every way a chord can fail ends as a ChordError stored on the
callback's result and none leaves the callback PENDING.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol

from celery import Celery, maybe_signature, states
from celery.exceptions import ChordError
from celery.result import GroupResult, ResultSet, allow_join_result

from ..domain.records import PartCount
from .recovery import RecoveryReport
from .retrying import retrying

__all__ = [
    "ChordBackend",
    "before_sending_callback",
    "fail_chord",
    "fire_chord_callback",
    "hold_before_sending_callback",
    "on_part_counted",
    "recover_chords",
]


logger = logging.getLogger(__name__)


class ChordBackend(Protocol):
    """What the shared step needs of a Celery backend (both of ours are one)."""

    app: Celery

    def chord_error_from_stack(self, callback: Any, exc: Exception | None = None) -> Any:
        """Store ``exc`` as the callback's result and run its errbacks (Celery's)."""
        ...


def on_part_counted(
    backend: ChordBackend,
    request: Any,
    group_id: str,
    part: PartCount,
    *,
    read_header: Callable[[], GroupResult | None],
    finish_chord: Callable[[GroupResult | None], None],
    claim_callback: Callable[[], bool] = lambda: True,
    callback_done: Callable[[], None] = lambda: None,
) -> None:
    """What follows counting one header task of chord ``group_id`` (``request`` is its request).

    - The chord has no counter (never started here, or its counter expired): a ChordError
      on the callback, since no part of it can ever be counted.
    - A part that is not the last: nothing; but a task already counted while the chord is
      at its end may be this very part reported again after its first count's reply was lost
      (a COMMIT whose answer never came, retried): it tries the claim, which fails for a mere
      duplicate of a chord already dealt with, and wins when nobody sent the callback.
    - The last part: ``read_header`` gives the chord's header (None when it is gone: deleted
      or expired), which is joined and the callback sent its results; a header that is gone
      or cannot be read, a failed header task, a join timeout or a callback that cannot be
      sent ends as a ChordError on the callback. ``finish_chord`` (given the header, or None)
      then runs whatever happened, so the backend can drop the chord's bookkeeping.

    The backend supplies only how it reads its header and finishes its chord, and, where it
    can recover chords whose worker died, how it claims sending the callback
    (``claim_callback``: False when someone else took it first, and then nothing is sent
    here; it must recognise its own earlier attempt when retried) and records that it was
    dealt with (``callback_done``, after it was sent or its ChordError stored; never when
    storing the error itself failed, so recovery tries again). Each of these storage steps
    is retried under ``result_backend_always_retry`` (``retrying``); once the callback is
    sent, a step that still fails is logged, not raised, so the header task keeps its
    SUCCESS.
    """
    if not part.chord_is_known:
        fail_chord(
            backend,
            request.chord,
            ChordError(f"Chord {group_id} has no counter: cannot count its parts"),
        )
        return
    if not part.is_last and not (part.remaining == 0 and not part.counted):
        return
    if not retrying(backend, claim_callback, f"Claiming chord {group_id}'s callback"):
        if part.is_last:
            logger.info("Chord %r: its callback is being sent by chord recovery", group_id)
        return
    hold_before_sending_callback(group_id)
    callback = maybe_signature(request.chord, app=backend.app)
    header: GroupResult | None = None
    try:
        try:
            header = retrying(backend, read_header, f"Reading chord {group_id}'s header")
        except Exception as exc:
            logger.exception("Chord %r: its header could not be read", group_id)
            fail_chord(
                backend, callback, ChordError(f"Chord {group_id} header could not be read: {exc!r}")
            )
        else:
            if header is None:
                fail_chord(
                    backend,
                    callback,
                    ChordError(
                        f"GroupResult {group_id} no longer exists: the chord's header was "
                        "deleted or expired before its last part was counted"
                    ),
                )
            else:
                fire_chord_callback(backend, group_id, header, callback)
        _after_sending(backend, callback_done, f"Recording chord {group_id}'s callback as sent")
    finally:
        _after_sending(
            backend, lambda: finish_chord(header), f"Clearing chord {group_id}'s counted parts"
        )


def _after_sending(backend: ChordBackend, step: Callable[[], None], what: str) -> None:
    # The callback has gone (or its ChordError is stored): the header task itself succeeded,
    # and raising now would report it as failed. A step that fails for good is logged; an
    # unrecorded callback may be sent again by recovery after the grace period.
    try:
        retrying(backend, step, what)
    except Exception:
        logger.exception("%s failed", what)


def recover_chords(
    backend: ChordBackend,
    grace: Any,
    *,
    due: Callable[[], list[tuple[str, Any]]],
    claim_callback: Callable[[str], bool],
    read_header: Callable[[str], GroupResult | None],
    callback_done: Callable[[str], None],
    finish_chord: Callable[[str, GroupResult | None], None],
) -> RecoveryReport:
    """Send the callbacks of the finished chords that ``due`` lists and nobody else claims.

    ``due()`` gives ``(group_id, callback)`` pairs, the callback as stored (a signature or its
    dict) or the exception that reading it raised; it is asked again until it lists nothing
    new. Each chord is claimed first (``claim_callback``), so two recoveries, or a recovery
    and a slow worker, never both send it; its callback is then sent with its own task id
    (or a ChordError stored on it, as the worker would have), and ``callback_done`` records
    that. A callback that cannot be read is reported and recorded as done, never retried.
    The backend supplies the storage steps; ``grace`` is only reported in the log.
    """
    report = RecoveryReport()
    seen: set[str] = set()
    while True:
        batch = [(group_id, stored) for group_id, stored in due() if group_id not in seen]
        if not batch:
            return report
        for group_id, stored in batch:
            seen.add(group_id)
            if not retrying(
                backend, partial(claim_callback, group_id), f"Claiming chord {group_id}'s callback"
            ):
                continue
            header: GroupResult | None = None
            try:
                if isinstance(stored, Exception):
                    logger.error(
                        "Chord %r: its stored callback cannot be read: %r", group_id, stored
                    )
                    report.unreadable.append(group_id)
                else:
                    header = retrying(
                        backend,
                        partial(read_header, group_id),
                        f"Reading chord {group_id}'s header",
                    ) or GroupResult(group_id, [], app=backend.app)
                    logger.warning(
                        "Chord %r: sending the callback no worker sent within %s", group_id, grace
                    )
                    callback = maybe_signature(stored, app=backend.app)
                    fire_chord_callback(backend, group_id, header, callback)
                    report.sent.append(group_id)
                _after_sending(
                    backend,
                    partial(callback_done, group_id),
                    f"Recording chord {group_id}'s callback as sent",
                )
            finally:
                _after_sending(
                    backend,
                    partial(finish_chord, group_id, header),
                    f"Clearing chord {group_id}'s counted parts",
                )


#: A test's hook into the window between claiming a chord's callback and sending it, where a
#: killed worker leaves the chord to recovery; None (nothing runs) outside tests.
before_sending_callback: Callable[[str], None] | None = None


def hold_before_sending_callback(group_id: str) -> None:
    """Run the test hook ``before_sending_callback``, if a test installed one."""
    if before_sending_callback is not None:
        before_sending_callback(group_id)


def fire_chord_callback(
    backend: ChordBackend, group_id: str, header: GroupResult, callback: Any
) -> None:
    """Join ``header`` natively and send ``callback`` its results, or store a ChordError on it.

    Called by the one header task that counted the chord's last part, after every header
    result is stored, so the first poll of the native join reads them all. A failed header
    task, a join timeout (``result_chord_join_timeout``) or a callback that cannot be sent
    ends as a ChordError on the callback's result, never as a log line alone.
    """
    try:
        with allow_join_result():
            values = header.join_native(
                timeout=backend.app.conf.result_chord_join_timeout, propagate=True
            )
    except Exception as exc:
        culprit = _failed_member(header.results or [])
        reason = f"Dependency {culprit.id} raised {exc!r}" if culprit else repr(exc)
        logger.exception("Chord %r raised: %r", group_id, reason)
        fail_chord(backend, callback, _caused_by(ChordError(reason), exc))
        return
    try:
        callback.delay(values)
    except Exception as exc:
        logger.exception("Chord %r callback could not be sent: %r", group_id, exc)
        fail_chord(backend, callback, _caused_by(ChordError(f"Callback error: {exc!r}"), exc))


def _caused_by(error: ChordError, cause: Exception) -> ChordError:
    """``error`` with ``cause`` as its ``__cause__``, as Celery's own backends build it.

    Celery's ``chord_error_from_stack`` stores a group body's tasks with the cause (the header
    task's own exception), not the ChordError: without it they held the ChordError, and Celery's
    ``test_chord_error_propagation_with_different_body_types[body is a group]`` failed.
    """
    error.__cause__ = cause
    return error


def _failed_member(results: Iterable[Any]) -> Any:
    """The first header task that failed, nested groups descended into; None if none did.

    A header element that is a group (or a chain ending in one) is a ``GroupResult``, which
    has no ``state``: reading it raised AttributeError out of the callback step.
    """
    for result in results:
        if isinstance(result, ResultSet):
            inner = _failed_member(result.results or [])
            if inner is not None:
                return inner
        elif result.state in states.PROPAGATE_STATES:
            return result
    return None


def fail_chord(backend: ChordBackend, body: Any, error: ChordError) -> None:
    """Store ``error`` as the result of the chord's callback ``body`` (and run its errbacks)."""
    callback = maybe_signature(body, app=backend.app)
    # Celery's chord_error_from_stack stores the traceback of the exception being handled
    # (sys.exc_info()); outside an except block there is none and it fails with
    # "'NoneType' object has no attribute 'tb_frame'" (billiard's Traceback of None), leaving
    # the callback PENDING. So the error is raised and caught here, whoever calls.
    try:
        raise error
    except ChordError as raised:
        backend.chord_error_from_stack(callback, raised)
