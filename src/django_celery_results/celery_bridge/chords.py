"""The chord callback step both backends share: join the header, then send or fail the body."""

from __future__ import annotations

import logging
from typing import Any

from celery import states
from celery.exceptions import ChordError
from celery.result import GroupResult, allow_join_result

logger = logging.getLogger(__name__)


def fire_chord_callback(backend: Any, group_id: str, header: GroupResult, callback: Any) -> None:
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
        culprit = next(
            (r for r in header.results or [] if r.state in states.PROPAGATE_STATES), None
        )
        reason = f"Dependency {culprit.id} raised {exc!r}" if culprit else repr(exc)
        logger.exception("Chord %r raised: %r", group_id, reason)
        backend.chord_error_from_stack(callback, ChordError(reason))
        return
    try:
        callback.delay(values)
    except Exception as exc:
        logger.exception("Chord %r callback could not be sent: %r", group_id, exc)
        backend.chord_error_from_stack(callback, ChordError(f"Callback error: {exc!r}"))
