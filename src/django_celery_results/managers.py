"""Compatibility import path of the model managers (they live in the ORM adapter).

Besides the managers, the old module's helpers keep their names: ``ResultManager`` (the base
both managers share), ``TxIsolationWarning`` with its message ``W_ISOLATION_REP``, and the
``transaction_retry`` decorator.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connections

from .adapters.django_orm.managers import (
    GroupResultManager,
    ResultManager,
    TaskResultManager,
    TxIsolationWarning,
)

__all__ = [
    "W_ISOLATION_REP",
    "GroupResultManager",
    "ResultManager",
    "TaskResultManager",
    "TxIsolationWarning",
    "transaction_retry",
]

logger = logging.getLogger(__name__)

#: The text of the ``TxIsolationWarning`` that ``warn_if_repeatable_read`` emits.
W_ISOLATION_REP = TxIsolationWarning.message

_R = TypeVar("_R")


def transaction_retry(max_retries: int = 1) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Retry the decorated database operation up to ``max_retries`` times after a DatabaseError.

    Before each retry the connections Django holds are closed if an error made them unusable,
    so the retry reconnects. A call may pass ``exception_retry_count=N`` to change the number
    of retries for that call. The last error is raised when every attempt failed.
    """

    def decorate(function: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(function)
        def attempt(*args: Any, **kwargs: Any) -> _R:
            retries = int(kwargs.pop("exception_retry_count", max_retries))
            for tried in range(retries + 1):
                try:
                    return function(*args, **kwargs)
                except DatabaseError:  # noqa: PERF203 - a retry loop is the point
                    if tried >= retries:
                        raise
                    logger.warning("%s failed; retrying (%d of %d)", function, tried + 1, retries)
                    for connection in connections.all(initialized_only=True):
                        connection.close_if_unusable_or_obsolete()
            raise AssertionError("unreachable")  # pragma: no cover

        return attempt

    return decorate
