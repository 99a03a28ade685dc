"""The polling loop of ``get_many`` (Celery's native join) that both backends share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from celery import states

#: Reads the still-pending ids in one go and yields ``(task_id, meta)`` for the ready ones.
ReadReady = Callable[[list[str]], Iterable[tuple[str, dict[str, Any]]]]


def poll_ready(
    backend: Any,
    task_ids: Iterable[str],
    read_ready: ReadReady,
    *,
    timeout: float | None,
    interval: float | None,
    on_message: Callable[[dict[str, Any]], None] | None,
    on_interval: Callable[[], None] | None,
    max_iterations: int | None,
    ready_states: frozenset[str],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(task_id, meta)`` for each of ``task_ids`` as it becomes ready.

    Ready results already in the backend's result cache come first; then each poll reads
    every still-pending id with one ``read_ready`` call (one query per chunk of ids, one cache
    round trip), caches the SUCCESS metas (a stored SUCCESS is final), and sleeps ``interval``
    seconds (0.5 when None) before the next. Raises the backend's ``TimeoutError`` after
    ``timeout`` seconds; stops quietly after ``max_iterations`` polls.
    """
    pending = set(task_ids)
    for task_id in list(pending):
        cached = backend._cache.get(task_id)
        if cached is not None and cached.get("status") in ready_states:
            pending.discard(task_id)
            yield task_id, cached
    started = time.monotonic()
    iterations = 0
    while pending:
        for task_id, meta in read_ready(list(pending)):
            if meta.get("status") == states.SUCCESS:
                backend._cache[task_id] = meta
            pending.discard(task_id)
            if on_message is not None:
                on_message(meta)
            yield task_id, meta
        if not pending:
            return
        if timeout is not None and time.monotonic() - started >= timeout:
            raise backend.TimeoutError(f"The operation timed out ({timeout} s).")
        if on_interval is not None:
            on_interval()
        iterations += 1
        if max_iterations is not None and iterations >= max_iterations:
            return
        time.sleep(0.5 if interval is None else interval)
