"""django-db chords that cannot complete (issue 3): the callback fails with a ChordError.

Pins, on a real worker, a header task of a chord with no counter and a header task that raised;
and a header result never stored failing the callback after ``result_chord_join_timeout``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from celery import chord, states, uuid
from celery.exceptions import ChordError
from celery.result import AsyncResult, GroupResult

from tests.celery_app import add, app, fail, tsum
from tests.integration.chords_support import (
    POLL,
    TIMEOUT,
    db_backend,
    make_app,
    part_request,
    report,
    start_chord,
)

# Fixtures are found by their names in the test module; "as" marks the imports as deliberate.
from tests.integration.chords_support import running_worker as running_worker
from tests.integration.chords_support import task_runs as task_runs
from tests.integration.chords_support import worker as worker
from tests.integration.conftest import SentCallbacks
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

#: Seconds to wait for a ChordError that the header task stores as it finishes.
ERROR_TIMEOUT = 10


def wait_ready(result: AsyncResult[Any], timeout: float = TIMEOUT) -> AsyncResult[Any]:
    """Wait for ``result`` to be ready (without raising its exception) and return it."""
    result.get(timeout=timeout, interval=POLL, propagate=False)
    return result


# -- 3. chords that cannot complete ---------------------------------------------------------------


def test_chord_without_counter_fails_its_callback(worker: Any, db_alias: str) -> None:
    """A header task of a chord that has no counter stores a ChordError on the callback."""
    callback = tsum.s()
    callback.freeze()
    group_id = uuid()
    # What a header task carries, sent without apply_chord: nothing counts this chord.
    # (Options the canvas passes to each header task; celery-types does not list them.)
    header_options: dict[str, Any] = {"group_id": group_id, "chord": callback}
    part = add.apply_async((1, 2), **header_options)
    assert part.get(timeout=TIMEOUT, interval=POLL) == 3
    outcome = wait_ready(AsyncResult(str(callback.id), app=app), timeout=ERROR_TIMEOUT)
    assert outcome.state == states.FAILURE
    assert isinstance(outcome.result, ChordError)
    assert group_id in str(outcome.result)
    assert "no counter" in str(outcome.result)


def test_failed_header_task_fails_the_callback(
    worker: Any, db_alias: str, task_runs: Counter[str]
) -> None:
    """A header task that raised gives the callback a ChordError naming it; the body never runs."""
    result = chord([add.s(1, 1), fail.s("boom"), add.s(2, 2)])(tsum.s())
    outcome = wait_ready(result)
    assert outcome.state == states.FAILURE
    assert isinstance(outcome.result, ChordError)
    header = result.parent
    assert isinstance(header, GroupResult)
    failed = [r for r in header.results or [] if r.state == states.FAILURE]
    assert len(failed) == 1
    assert f"Dependency {failed[0].id} raised ValueError('boom')" in str(outcome.result)
    assert task_runs[str(result.id)] == 0
    # Who holds only the callback's id gets the ChordError (the chord's own result re-raises
    # the header's ValueError first: Celery's follow_parents).
    with pytest.raises(ChordError, match="boom"):
        AsyncResult(result.id, app=app).get(timeout=TIMEOUT, interval=POLL)


def test_join_timeout_is_honoured(db_alias: str, sent_callbacks: SentCallbacks) -> None:
    """A header result never stored fails the callback after result_chord_join_timeout."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_chord_join_timeout=0.3))
        group_id, (t1, t2), callback = start_chord(backend, 2)
        backend.store_result(t1, 1, states.SUCCESS)
        report(backend, group_id, t1, callback)
        # t2 is counted, but its result is never stored (a lost write, a misbehaving worker).
        backend.on_chord_part_return(part_request(group_id, t2, callback), states.SUCCESS, 2)
        outcome = backend.get_task_meta(str(callback.id), cache=False)
    assert sent_callbacks.sent == []
    assert outcome["status"] == states.FAILURE
    assert isinstance(outcome["result"], ChordError)
    assert "timed out" in str(outcome["result"])
    assert "0.3" in str(outcome["result"])
