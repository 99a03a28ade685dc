"""The bookkeeping of a native join, as plain Python: what is still pending and when to stop.

A native join (Celery's ``join_native``, a chord's join) polls every pending id at once until
each is ready. What it waits for is decided here, with no Celery types: the ids still pending,
the nested groups that are done once every task inside them is (``NestedJoin``), and the
timeout and poll limit (``PollLimits``). ``celery_bridge/polling.py`` does the reading, the
sleeping and the translation from Celery's result objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs

__all__ = ["DEFAULT_INTERVAL", "NestedJoin", "PollLimits", "poll_interval"]

#: Seconds between two polls when the caller gives no interval (Celery's default).
DEFAULT_INTERVAL = 0.5

_G = TypeVar("_G")


def poll_interval(interval: float | None) -> float:
    """The seconds to sleep between polls: ``interval``, or ``DEFAULT_INTERVAL`` when None."""
    return DEFAULT_INTERVAL if interval is None else interval


@attrs.define
class PollLimits:
    """When a join stops polling: after ``timeout`` seconds (an error) or ``max_iterations``.

    Attributes:
        started: when the join started, on the same monotonic scale as ``timed_out``'s ``now``.
        timeout: seconds after which the join fails; None waits for ever.
        max_iterations: polls after which the join stops quietly; None polls for ever.
        polls: the polls done so far.
    """

    started: float
    timeout: float | None = None
    max_iterations: int | None = None
    polls: int = 0

    def timed_out(self, now: float) -> bool:
        """Whether ``timeout`` seconds have passed since the join started."""
        return self.timeout is not None and now - self.started >= self.timeout

    def count_poll(self) -> bool:
        """Count one finished poll; return whether another one may follow."""
        self.polls += 1
        return self.max_iterations is None or self.polls < self.max_iterations


class NestedJoin(Generic[_G]):
    """The members of one join: task ids reported directly, and nested groups.

    A nested group (any value the caller uses to name it) is done when every task id inside
    it, at any depth, is ready; it is then reported once, by the task that finished it. A
    group with no task inside is done from the start (``empty_groups``).

    Args:
        direct: the ids of the join's own task members.
        groups: each nested group with the ids of the tasks inside it.
    """

    def __init__(self, direct: Iterable[str], groups: Iterable[tuple[_G, Iterable[str]]]) -> None:
        self.direct = frozenset(direct)
        self.empty_groups: list[_G] = []
        self._waiting: list[tuple[_G, set[str]]] = []
        for group, inner in groups:
            ids = set(inner)
            if ids:
                self._waiting.append((group, ids))
            else:
                self.empty_groups.append(group)

    def polled(self) -> set[str]:
        """Every id the join reads: the direct members and the tasks inside nested groups."""
        return set(self.direct).union(*(ids for _, ids in self._waiting))

    def completed_by(self, task_id: str) -> list[_G]:
        """The nested groups that ``task_id`` being ready finishes, in their order."""
        completed: list[_G] = []
        waiting: list[tuple[_G, set[str]]] = []
        for group, ids in self._waiting:
            ids.discard(task_id)
            if ids:
                waiting.append((group, ids))
            else:
                completed.append(group)
        self._waiting = waiting
        return completed
