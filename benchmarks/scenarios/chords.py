"""The chord scenarios: a chord's parts returned in one process, and from two processes at once."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery.app.task import Context
from celery.result import AsyncResult

from benchmarks.scenarios.bench import CALLBACK_TASK, CAPTURED_CALLBACKS, CAPTURED_UNLOCKS, Bench
from benchmarks.scenarios.measure import count_summary, counting, ok_result, skipped, timed
from benchmarks.scenarios.primitives import prime

__all__ = ["scenario_chord", "scenario_chord_2proc"]


@dataclass
class _Chord:
    """One chord's header and body, and the requests its parts return with."""

    group_id: str
    body: Any
    header: list[AsyncResult[Any]]
    requests: list[Context]


def _new_chord(bench: Bench, size: int) -> _Chord:
    app = bench.app
    group_id = f"{bench.tag}-chord-{uuid.uuid4().hex[:12]}"
    body = app.signature(CALLBACK_TASK)
    body.freeze(f"{group_id}-body")
    ids = [f"{group_id}-part-{i}" for i in range(size)]
    requests = [
        Context(
            id=task_id,
            group=group_id,
            group_index=i,
            chord=dict(body),
            task="bench.part",
            hostname="bench@host",
            delivery_info={},
        )
        for i, task_id in enumerate(ids)
    ]
    return _Chord(group_id, body, [app.AsyncResult(task_id) for task_id in ids], requests)


def _apply_chord(bench: Bench, chord: _Chord) -> None:
    backend: Any = bench.app.backend
    # The arguments Celery's chord.run passes: (group id, header results), the body, options.
    backend.apply_chord(
        (chord.group_id, chord.header), chord.body, interval=1, countdown=1, max_retries=None
    )


def _return_part(bench: Bench, request: Context) -> None:
    """What a worker does when a header part succeeds: Celery's trace calls ``mark_as_done``.

    Celery's own ``mark_as_done`` stores the result (``store_result``), then counts the part
    (``on_chord_part_return``); a backend may override it to do both at once.
    """
    backend: Any = bench.app.backend
    backend.mark_as_done(request.id, request.group_index, request=request)


def _run_unlocks(bench: Bench) -> list[str]:
    """Run each captured ``celery.chord_unlock`` once, eagerly; return their errors."""
    errors = []
    unlock = bench.app.tasks["celery.chord_unlock"]
    while CAPTURED_UNLOCKS:
        args, kwargs = CAPTURED_UNLOCKS.pop(0)
        outcome = unlock.apply(args=args, kwargs=kwargs)
        if outcome.failed():
            errors.append(repr(outcome.result))
    return errors


def _fired(size: int, callbacks: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    expected = list(range(size))
    return {
        "callbacks": len(callbacks),
        "complete": sum(1 for args in callbacks if args and list(args[0]) == expected),
    }


def _chord_steps(bench: Bench, size: int) -> tuple[list[Callable[[], Any]], Callable[[], Any]]:
    """The steps of one chord (apply, each part, then any unlock) and its outcome."""
    chord = _new_chord(bench, size)
    errors: list[str] = []

    def start() -> None:
        CAPTURED_CALLBACKS.clear()
        CAPTURED_UNLOCKS.clear()
        _apply_chord(bench, chord)

    def part(request: Context) -> Callable[[], None]:
        return lambda: _return_part(bench, request)

    unlocks: list[int] = []

    def finish() -> None:
        unlocks.append(len(CAPTURED_UNLOCKS))
        errors.extend(_run_unlocks(bench))

    def outcome() -> dict[str, Any]:
        return {
            **_fired(size, CAPTURED_CALLBACKS),
            "unlock_tasks": sum(unlocks),
            "errors": errors,
        }

    return [start, *(part(r) for r in chord.requests), finish], outcome


def _count_chord(bench: Bench, size: int) -> dict[str, Any]:
    steps, outcome = _chord_steps(bench, size)
    counts = []
    with counting(bench) as trips:
        for step in steps:
            step()
            counts.append(trips.take())
    parts = counts[1:-1]
    return {
        "size": size,
        "apply_chord": counts[0],
        "part": count_summary(parts[:-1]),
        "last_part": parts[-1],
        "unlock": counts[-1],
        "total": sum(counts),
        "outcome": outcome(),
    }


def scenario_chord(bench: Bench) -> dict[str, Any]:
    """A chord of ``scale.chord`` parts: apply_chord, then each part's store and return.

    The callback is captured and must fire once with every part's result. Round trips are
    counted for this size and half of it, to show which ones depend on the size.
    """
    size = bench.scale.chord
    prime(bench)
    counted = _count_chord(bench, size)
    half = _count_chord(bench, max(2, size // 2))
    runs: list[float] = []
    outcomes = []
    for _ in range(bench.scale.chord_runs):
        steps, outcome = _chord_steps(bench, size)
        with timed(bench, runs):
            for step in steps:
                step()
        outcomes.append(outcome())
    good = sum(1 for o in [counted["outcome"], *outcomes] if o["callbacks"] == o["complete"] == 1)
    return ok_result(
        runs,
        "s/chord",
        counted,
        size=size,
        round_trips_half=half,
        outcomes=outcomes,
        fired_once=good,
        chords=len(outcomes) + 1,
    )


def _release_connections(bench: Bench) -> None:
    """Close this process's database and cache connections (before a fork)."""
    from django.core.cache import caches
    from django.db import connections

    connections.close_all()
    for cache in caches.all(initialized_only=True):
        cache.close()


def _error_of(call: Callable[..., Any], *args: Any) -> str | None:
    """Run ``call``; return its exception as text (every failure is reported, not raised)."""
    try:
        call(*args)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def _twoproc_child(bench: Bench, requests: list[Context], barrier: Any, queue: Any) -> None:
    CAPTURED_CALLBACKS.clear()
    errors: list[str] = []
    barrier.wait(timeout=120)
    started = time.monotonic()
    for request in requests:
        error = _error_of(_return_part, bench, request)
        if error:
            errors.append(error)
    ended = time.monotonic()
    queue.put(
        {
            "callbacks": [list(args[0]) if args else None for args in CAPTURED_CALLBACKS],
            "errors": errors,
            "started": started,
            "ended": ended,
        }
    )
    _release_connections(bench)


def scenario_chord_2proc(bench: Bench) -> dict[str, Any]:
    """Chords whose parts return from two processes at once (interleaved halves).

    Each run forks two processes that wait on a barrier, then return their parts as fast as
    they can. Correctness is the point: how many runs fired the callback exactly once, how
    many lost it or fired it twice, and the errors the parts raised.
    """
    if bench.vendor == "locmem":
        return skipped("a local-memory cache is private to each process")
    size = bench.scale.chord
    context = multiprocessing.get_context("fork")
    runs: list[float] = []
    outcomes = []
    for _ in range(bench.scale.twoproc_runs):
        chord = _new_chord(bench, size)
        CAPTURED_CALLBACKS.clear()
        CAPTURED_UNLOCKS.clear()
        _apply_chord(bench, chord)
        _release_connections(bench)
        barrier = context.Barrier(2)
        queue = context.SimpleQueue()
        children = [
            context.Process(
                target=_twoproc_child, args=(bench, chord.requests[k::2], barrier, queue)
            )
            for k in (0, 1)
        ]
        for child in children:
            child.start()
        reports = [queue.get() for _ in children]
        for child in children:
            child.join(timeout=60)
        unlock_errors = _run_unlocks(bench)
        callbacks = [(values,) for report in reports for values in report["callbacks"]]
        callbacks += CAPTURED_CALLBACKS
        runs.append(max(r["ended"] for r in reports) - min(r["started"] for r in reports))
        outcomes.append(
            {
                **_fired(size, callbacks),
                "errors": [e for r in reports for e in r["errors"]] + unlock_errors,
            }
        )
    once = sum(1 for o in outcomes if o["callbacks"] == o["complete"] == 1)
    return ok_result(
        runs,
        "s/chord",
        {},
        size=size,
        fired_once=once,
        lost=sum(1 for o in outcomes if o["callbacks"] == 0),
        duplicated=sum(1 for o in outcomes if o["callbacks"] > 1),
        errors=sum(len(o["errors"]) for o in outcomes),
        first_error=next((o["errors"][0] for o in outcomes if o["errors"]), None),
        chords=len(outcomes),
    )
