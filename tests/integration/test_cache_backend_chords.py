"""Chords through CacheBackend: counted in the cache where its increment is atomic.

Pins one callback per chord with every result (duplicates counted once, UUID ids), the Redis
commands per header task, and the fallback to Celery's ``chord_unlock`` task on the caches whose
increment is not atomic. The ways a chord fails are in ``test_cache_chords.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import states
from celery.canvas import Signature
from celery.result import AsyncResult, GroupResult

from django_celery_results.backends import CacheBackend
from tests.integration.cache_backend_support import (
    ATOMIC,
    NEEDS_REDIS,
    Request,
    backend_of,
    make_app,
    redis_commands,
)

# A fixture is found by its name in the test module; "as" marks the import as deliberate.
from tests.integration.cache_backend_support import cache_table as cache_table
from tests.integration.test_cache_store import cache_alias_params

# -- chords --------------------------------------------------------------------------------


@pytest.fixture
def sent_callbacks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Records chord callbacks instead of sending them to a broker."""
    sent: list[tuple[str, Any]] = []

    def record(self: Signature[Any], *args: Any, **kwargs: Any) -> None:
        sent.append((self.task or "", args[0] if args else None))

    monkeypatch.setattr(Signature, "delay", record)
    return sent


def run_chord_parts(backend: CacheBackend, size: int, duplicates: int = 0) -> str:
    """Start a chord of ``size`` header tasks, store and report each (some twice)."""
    app = backend.app
    group_id = str(uuid.uuid4())
    header = GroupResult(group_id, [AsyncResult(str(uuid.uuid4()), app=app) for _ in range(size)])
    body = app.signature("tests.tsum")
    backend.apply_chord((group_id, header.results), body)
    reports = [*(header.results or []), *(header.results or [])[:duplicates]]
    for index, member in enumerate(reports):
        request = Request(id=member.id, group=group_id, chord=dict(body))
        backend.mark_as_done(member.id, index % size, request=request)
    return group_id


@pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))
def test_chord_callback_fires_once(
    alias: str, sent_callbacks: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chord counted in the cache sends its callback once, with every result, no unlock task."""
    backend = backend_of(make_app(cache_backend=alias))
    unlocks: list[Any] = []
    monkeypatch.setattr(backend, "fallback_chord_unlock", lambda *a, **k: unlocks.append(a))
    run_chord_parts(backend, 20, duplicates=5)
    assert sent_callbacks == [("tests.tsum", list(range(20)))]
    assert unlocks == []


def test_chord_with_uuid_ids_fires(sent_callbacks: list[tuple[str, Any]]) -> None:
    """A chord whose group and header task ids are UUID objects counts and fires by str(id)."""
    backend = backend_of(make_app(cache_backend="locmem"))
    app = backend.app
    group_id, task_ids = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    members: list[AsyncResult[Any]] = [AsyncResult(t, app=app) for t in task_ids]  # type: ignore[arg-type]
    body = app.signature("tests.tsum")
    backend.apply_chord((group_id, members), body)
    for index, task_id in enumerate(task_ids):
        request = Request(id=task_id, group=group_id, chord=dict(body))
        backend.mark_as_done(task_id, index, request=request)  # type: ignore[arg-type]
    assert sent_callbacks == [("tests.tsum", [0, 1])]


# The ways a chord fails (no counter, header gone, failed header task, join timeout, callback
# not sent) are pinned on every atomic cache in test_cache_chords.py, through Celery's own
# chord_error_from_stack.


@NEEDS_REDIS
def test_redis_round_trips_per_chord_part(sent_callbacks: list[tuple[str, Any]]) -> None:
    """Redis commands per header task: 3 to count it, 5 more for the last one.

    Counting is SET NX (the mark), EXISTS and INCRBY (Django's incr); the last part also claims
    the callback (SET NX), reads the header (GET), joins it (MGET), records the callback as
    sent (SET) and deletes the marks (DEL).
    """
    backend = backend_of(make_app(cache_backend="redis"))
    app = backend.app
    group_id = str(uuid.uuid4())
    members: list[AsyncResult[Any]] = [AsyncResult(str(uuid.uuid4()), app=app) for _ in range(3)]
    body = app.signature("tests.tsum")
    with redis_commands() as sent:
        backend.apply_chord((group_id, members), body)
    # The header and the counter, then for chord recovery the callback, a slot in this
    # minute's index (INCRBY of its count, or SET NX of the minute's first chord) and the
    # slot naming the chord.
    assert sent in (
        ["SET", "SET", "SET", "EXISTS", "INCRBY", "SET"],
        ["SET", "SET", "SET", "EXISTS", "SET", "SET"],
    )
    counted: list[list[str]] = []
    for member in members:
        backend.mark_as_done(member.id, 1, request=Request(id=member.id))
        request = Request(id=member.id, group=group_id, chord=dict(body))
        with redis_commands() as sent:
            backend.on_chord_part_return(request, states.SUCCESS, 1)
        counted.append(list(sent))
    assert counted[0] == counted[1] == ["SET", "EXISTS", "INCRBY"]
    # The last part also claims the callback (SET NX), reads and joins the header, records
    # the callback as sent (SET) and deletes the marks.
    assert counted[2] == ["SET", "EXISTS", "INCRBY", "SET", "GET", "MGET", "SET", "DEL"]
    assert sent_callbacks == [("tests.tsum", [1, 1, 1])]


@pytest.mark.parametrize("alias", cache_alias_params(("database", "filebased")))
def test_chords_fall_back_to_the_unlock_task(
    alias: str, cache_table: None, django_db_blocker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the increment is not atomic, Celery's chord_unlock task joins the chord.

    apply_chord sends it, and on_chord_part_return counts nothing in the cache.
    """
    with django_db_blocker.unblock():
        backend = backend_of(make_app(cache_backend=alias))
        unlocks: list[Any] = []
        monkeypatch.setattr(backend, "fallback_chord_unlock", lambda *a, **k: unlocks.append(a))
        group_id = run_chord_parts(backend, 3)
        assert len(unlocks) == 1
        assert backend.results.store.get(backend.get_key_for_chord(group_id)) is None
