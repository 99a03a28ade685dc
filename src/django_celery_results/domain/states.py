"""Celery's task state names and the policy of which stored state a new state may overwrite.

The names are Celery's (``celery.states``), repeated here because the domain imports no Celery;
a unit test pins that they stay equal.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXCEPTION_STATES",
    "FAILURE",
    "IGNORED",
    "PENDING",
    "PROPAGATE_STATES",
    "READY_STATES",
    "RECEIVED",
    "REJECTED",
    "RETRY",
    "REVOKED",
    "STARTED",
    "SUCCESS",
    "blocking_states",
    "is_ready",
    "may_overwrite",
]

PENDING: Final = "PENDING"
RECEIVED: Final = "RECEIVED"
STARTED: Final = "STARTED"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
RETRY: Final = "RETRY"
REJECTED: Final = "REJECTED"
IGNORED: Final = "IGNORED"

#: States after which Celery considers the task finished (``celery.states.READY_STATES``).
READY_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})
#: States whose result is an exception (``celery.states.EXCEPTION_STATES``).
EXCEPTION_STATES: Final = frozenset({RETRY, FAILURE, REVOKED})
#: States that carry a traceback worth keeping.
PROPAGATE_STATES: Final = frozenset({FAILURE, REVOKED})

_SUCCESS_BLOCKS: Final = frozenset({SUCCESS})


def is_ready(state: str) -> bool:
    """Whether ``state`` means the task has finished (any custom state is not ready)."""
    return state in READY_STATES


def blocking_states(incoming: str) -> frozenset[str]:
    """The stored states that an incoming ``incoming`` state must not overwrite.

    The policy, which answers lost results in the old package (a redelivered ``acks_late`` task
    writing STARTED over its own SUCCESS, or a WorkerLostError FAILURE arriving after the
    SUCCESS):

    - a stored SUCCESS is final: nothing overwrites it, not even another SUCCESS, so the first
      successful result is the one every reader sees;
    - a stored ready state (FAILURE, REVOKED) is overwritten only by another ready state, so a
      task retried after a lost worker can still finish with SUCCESS;
    - a stored non-ready state (PENDING, RECEIVED, STARTED, RETRY, custom progress states) is
      overwritten by anything.

    Expressed as a set so that a database adapter can apply it inside one conditional upsert
    (``... WHERE stored.status NOT IN (...)``) with no read before the write.
    """
    if incoming in READY_STATES:
        return _SUCCESS_BLOCKS
    return READY_STATES


def may_overwrite(stored: str | None, incoming: str) -> bool:
    """Whether a record in state ``incoming`` may replace one stored in state ``stored``.

    ``stored`` is None when nothing is stored yet, which never blocks.
    """
    return stored is None or stored not in blocking_states(incoming)
