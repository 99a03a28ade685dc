"""Storage steps outside Celery's own retry loop, retried as ``result_backend_always_retry`` says.

Celery retries ``store_result`` and ``get_task_meta`` under ``result_backend_always_retry``, but
not what a backend does on its own behalf: counting a chord's part from
``on_chord_part_return``, claiming and recording its callback, the join's polls. A connection
reset there lost chords in the fault soak (RELIABILITY.md). ``retrying`` runs such a step with
Celery's own settings (``result_backend_max_retries``, the exponential backoff between
``result_backend_base_sleep_between_retries_ms`` and ``..._max_sleep_...``), retrying only
the errors the backend's ``exception_safe_to_retry`` calls transient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery.utils.time import get_exponential_backoff_interval

__all__ = ["retrying"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def retrying(
    backend: Any,
    step: Callable[[], _T],
    what: str,
    giving_up: Callable[[], Exception] | None = None,
) -> _T:
    """``step()``, retried while it fails transiently and retries are on and left.

    Without ``result_backend_always_retry`` the first error propagates, as Celery's own
    steps do. ``what`` names the step in the log. The step must be safe to run again after a
    failure whose effect is unknown (a reply lost after the server applied it). When the
    retries run out, the last error propagates, or the one ``giving_up()`` makes (with the
    last as its cause), as Celery's ``store_result`` raises its ``BackendStoreError``.
    """
    retries = 0
    while True:
        try:
            return step()
        except Exception as exc:  # noqa: PERF203 - a retry loop is the point
            if not (
                getattr(backend, "always_retry", False) and backend.exception_safe_to_retry(exc)
            ):
                raise
            if retries >= backend.max_retries:
                if giving_up is None:
                    raise
                raise giving_up() from exc
            retries += 1
            delay = (
                get_exponential_backoff_interval(
                    backend.base_sleep_between_retries_ms,
                    retries,
                    backend.max_sleep_between_retries_ms,
                    True,
                )
                / 1000
            )
            logger.warning(
                "%s failed (%r); retry %d of %s in %.3f s",
                what,
                exc,
                retries,
                backend.max_retries,
                delay,
            )
            backend._sleep(delay)
