"""Celery's ``get_many`` and ``iter_native`` (the native join), written once for both backends.

The bookkeeping (pending ids, nested groups, timeout and poll limit) is the domain's
(``domain/joins.py``); here are the reads, the sleeps, Celery's result cache and result types.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

from celery import states
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import ResultSet

from ..domain.joins import NestedJoin, PollLimits, poll_interval
from .retrying import retrying

__all__ = ["NativeJoin"]


class NativeJoin:
    """Mixed into a backend before Celery's base class: ``get_many`` over one batch read.

    The backend provides ``_read_ready`` (read every pending id at once, yield the ready ones
    with their metas) and, if its ids may arrive as bytes, ``_task_key``. ``iter_native``
    waits for the members of nested groups in the same loop, under the same timeout.
    """

    #: Celery's result cache of the backend (set by Celery's ``Backend.__init__``).
    _cache: MutableMapping[str, Any]

    def _task_key(self, task_id: Any) -> str:
        """The id as the storage knows it."""
        return str(task_id)

    def _read_ready(
        self, pending: list[str], ready_states: frozenset[str]
    ) -> Iterable[tuple[str, dict[str, Any]]]:
        """Read every id of ``pending`` at once; yield ``(task_id, meta)`` for the ready ones."""
        raise NotImplementedError

    def get_many(
        self,
        task_ids: Iterable[str],
        timeout: float | None = None,
        interval: float | None = 0.5,
        no_ack: bool = True,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        on_interval: Callable[[], None] | None = None,
        max_iterations: int | None = None,
        READY_STATES: frozenset[str] = states.READY_STATES,  # noqa: N803 - Celery's keyword
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(task_id, meta)`` for each of ``task_ids`` as it becomes ready.

        Ready results already in the result cache come first; then each poll reads every
        still-pending id with one ``_read_ready`` call (one query per chunk of ids, one cache
        round trip) instead of one read per id, caches the SUCCESS metas (a stored SUCCESS is
        final), and sleeps ``interval`` seconds (0.5 when None) before the next. Raises
        Celery's ``TimeoutError`` after ``timeout`` seconds; stops quietly after
        ``max_iterations`` polls. Celery's ``join_native``/``iter_native`` and the chord join
        use it.
        """
        pending = {self._task_key(task_id) for task_id in task_ids}
        for task_id in list(pending):
            cached = self._cache.get(task_id)
            if cached is not None and cached.get("status") in READY_STATES:
                pending.discard(task_id)
                yield task_id, cached
        limits = PollLimits(time.monotonic(), timeout, max_iterations)
        while pending:
            # One poll is a read: retried under result_backend_always_retry, as Celery retries
            # get_task_meta, so a connection reset does not end a chord's join in a ChordError.
            ready = retrying(
                self,
                lambda: list(self._read_ready(list(pending), READY_STATES)),
                f"Polling {len(pending)} results",
            )
            for task_id, meta in ready:
                if meta.get("status") == states.SUCCESS:
                    self._cache[task_id] = meta
                pending.discard(task_id)
                if on_message is not None:
                    on_message(meta)
                yield task_id, meta
            if not pending:
                return
            if limits.timed_out(time.monotonic()):
                raise CeleryTimeoutError(f"The operation timed out ({timeout} s).")
            if on_interval is not None:
                on_interval()
            if not limits.count_poll():
                return
            time.sleep(poll_interval(interval))

    def wait_for(
        self,
        task_id: str,
        timeout: float | None = None,
        interval: float = 0.5,
        no_ack: bool = True,
        on_interval: Callable[[], None] | None = None,
    ) -> Any:
        """Celery's polling wait for one result; a failure first lets ``on_interval`` run once.

        ``AsyncResult.get(follow_parents=True)`` passes the re-raise of its parents' errors as
        ``on_interval``. Celery's loop returns a failed meta without calling it, so which error
        ``get()`` raised depended on timing: a chord whose header task failed raised the
        header's own exception when ``get()`` happened to poll between the two writes, and
        the callback's ChordError (which wraps it) otherwise (Celery #2709). Checking the
        parents before returning a failure makes it the header's exception every time, as
        ``follow_parents`` documents and as Celery's own integration tests expect.
        """
        meta: dict[str, Any] = super().wait_for(  # type: ignore[misc]
            task_id, timeout=timeout, interval=interval, no_ack=no_ack, on_interval=on_interval
        )
        if on_interval is not None and meta.get("status") in states.PROPAGATE_STATES:
            on_interval()
        return meta

    def iter_native(
        self,
        result: ResultSet,
        timeout: float | None = None,
        interval: float | None = 0.5,
        no_ack: bool = True,
        on_message: Callable[[Any], None] | None = None,
        on_interval: Callable[[], None] | None = None,
    ) -> Any:  # an iterator of (task_id, meta); celery-types says None, and the bases must agree
        """Yield ``(task_id, meta)`` for each member of ``result`` as it becomes ready.

        A member that is itself a group (a chord header element that is a group, or a chain
        ending in one) is yielded as ``(group_id, its results)`` only once every task inside
        it, at any depth, is ready. Celery's own loop yields such a member at once, and
        ``join_native`` then calls ``get()`` on its children with no timeout: in a chord's
        callback step that wedged the worker process for good when the group was not done
        (issue 9, defect 8). Here those tasks are polled in the same ``get_many`` as the
        direct members, so ``timeout`` bounds the whole join and the ``get()`` calls that
        follow read results that are already stored. ``on_message`` sees the direct
        members' metas, as in Celery.
        """
        self._ensure_not_eager()  # type: ignore[attr-defined]
        # celery-types types members as AsyncResult; a nested group is a ResultSet at run time.
        members: list[Any] = list(result.results or [])
        join: NestedJoin[Any] = NestedJoin(
            (self._task_key(m.id) for m in members if not isinstance(m, ResultSet)),
            (
                (member, [self._task_key(task_id) for task_id in _leaf_ids(member)])
                for member in members
                if isinstance(member, ResultSet)
            ),
        )
        for empty in join.empty_groups:
            yield empty.id, empty.results
        polled = join.polled()
        if not polled:
            return
        for task_id, meta in self.get_many(
            polled, timeout=timeout, interval=interval, no_ack=no_ack, on_interval=on_interval
        ):
            if task_id in join.direct:
                if on_message is not None:
                    on_message(meta)
                yield task_id, meta
            for group_result in join.completed_by(task_id):
                yield group_result.id, group_result.results


def _leaf_ids(results: ResultSet) -> Iterator[str]:
    """The ids of the tasks inside ``results``, nested groups descended into."""
    members: list[Any] = list(results.results or [])
    for member in members:
        if isinstance(member, ResultSet):
            yield from _leaf_ids(member)
        else:
            yield member.id
