"""Retry policy: which storage failures are worth another try.

Adapters classify their driver's exceptions into ``TransientStorageError`` (lost connection,
server gone away, deadlock, serialization failure, lock timeout) or ``PermanentStorageError``;
this policy reasons only about those. The bridge plugs it into Celery's
``result_backend_always_retry`` machinery (``Backend.exception_safe_to_retry``), which owns the
backoff schedule (``result_backend_base_sleep_between_retries_ms`` and friends).
"""

from __future__ import annotations

import attrs

from .errors import StorageError, TransientStorageError

__all__ = [
    "RetryPolicy",
]


@attrs.frozen
class RetryPolicy:
    """Decides whether a failed storage operation may be retried.

    Attributes:
        retry_transient: whether transient failures are retried at all (Celery's
            ``result_backend_always_retry`` turns the retry loop on; this lets a deployment keep
            the loop for other backends while refusing it here).
    """

    retry_transient: bool = True

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a failure that the same operation may not meet again."""
        return self.retry_transient and isinstance(exc, TransientStorageError)

    def alias_to_reset(self, exc: BaseException) -> str | None:
        """The connection alias to reset before retrying ``exc``, if the adapter named one.

        A connection that failed mid-statement is unusable; reset the alias that actually
        failed (a routed write may not use ``default``).
        """
        if isinstance(exc, StorageError) and self.is_retryable(exc):
            return exc.alias
        return None
