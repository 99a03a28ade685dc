"""django-db chords on a real worker (issue 3): sent inside a transaction, and nested.

Pins that a chord sent in ``transaction.atomic()`` or by a view under ``ATOMIC_REQUESTS`` fires
its callback once, and that chords nested in chains and groups give the right result with each
callback run once.
"""

from __future__ import annotations

import types
from collections import Counter
from typing import Any

import pytest
from celery import chain, chord, group, states
from celery.result import AsyncResult
from django.db import connections, transaction
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

from django_celery_results.adapters.django_orm.models import TaskResult
from tests.celery_app import add, app, tsum
from tests.integration.chords_support import POLL, TIMEOUT

# Fixtures are found by their names in the test module; "as" marks the imports as deliberate.
from tests.integration.chords_support import running_worker as running_worker
from tests.integration.chords_support import task_runs as task_runs
from tests.integration.chords_support import worker as worker

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def callback_rows(alias: str, task_name: str = "tests.tsum") -> list[tuple[str, str]]:
    """(task id, status) of every stored result of ``task_name``."""
    return list(
        TaskResult.objects.using(alias)
        .filter(task_name=task_name)
        .values_list("task_id", "status")
        .order_by("task_id")
    )


# -- 4. chords sent inside a transaction ----------------------------------------------------------


def test_chord_sent_inside_atomic_fires(
    worker: Any, db_alias: str, task_runs: Counter[str]
) -> None:
    """A chord sent in transaction.atomic() fires (before commit on servers, after on SQLite)."""
    waits_inside = connections[db_alias].vendor != "sqlite"
    with transaction.atomic(using=db_alias):
        result = chord(add.s(i, i) for i in range(5))(tsum.s())
        if waits_inside:
            # The counter was committed on its own connection: the workers count the parts
            # while our transaction is still open.
            assert result.get(timeout=TIMEOUT, interval=POLL) == 20
    # SQLite: the counter was written in our transaction, so the header's writes waited for
    # this commit.
    assert result.get(timeout=TIMEOUT, interval=POLL) == 20
    assert callback_rows(db_alias) == [(result.id, states.SUCCESS)]
    assert task_runs[str(result.id)] == 1


def _chord_view(request: HttpRequest) -> JsonResponse:
    """Send a chord from a view; wait for its callback inside the request when asked to."""
    alias = request.GET["alias"]
    result = chord(add.s(i, i) for i in range(4))(tsum.s())
    value = result.get(timeout=TIMEOUT, interval=POLL) if request.GET.get("wait") else None
    return JsonResponse(
        {"id": result.id, "value": value, "atomic": connections[alias].in_atomic_block}
    )


_chord_urls = types.ModuleType("chord_view_urls")
_chord_urls.urlpatterns = [path("chord/", _chord_view)]  # type: ignore[attr-defined]


def test_chord_sent_from_atomic_request_fires(
    worker: Any, db_alias: str, monkeypatch: pytest.MonkeyPatch, task_runs: Counter[str]
) -> None:
    """A chord sent by a view under ATOMIC_REQUESTS fires its callback (once)."""
    monkeypatch.setitem(connections.settings[db_alias], "ATOMIC_REQUESTS", True)
    waits_inside = connections[db_alias].vendor != "sqlite"
    with override_settings(ROOT_URLCONF=_chord_urls):
        response = Client().get(
            "/chord/", {"alias": db_alias, **({"wait": "1"} if waits_inside else {})}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["atomic"] is True
    if waits_inside:
        assert body["value"] == 12
    callback: AsyncResult[Any] = AsyncResult(body["id"], app=app)
    assert callback.get(timeout=TIMEOUT, interval=POLL) == 12
    assert callback_rows(db_alias) == [(body["id"], states.SUCCESS)]
    assert task_runs[body["id"]] == 1


# -- 5. nested canvas -----------------------------------------------------------------------------


def _chord_of_chains() -> Any:
    return chord([chain(add.s(1, 1), add.s(1)), chain(add.s(2, 2), add.s(2))], tsum.s())


def _chord_of_groups() -> Any:
    return chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], tsum.s())


def _chain_of_chords() -> Any:
    return chain(
        chord([add.s(1, 1), add.s(2, 2)], tsum.s()),
        chord([add.s(10), add.s(20)], tsum.s()),
    )


def _group_with_a_chord() -> Any:
    return group(chord([add.s(1, 1), add.s(2, 2)], tsum.s()), add.s(5, 5))


@pytest.mark.parametrize(
    ("canvas", "expected", "callbacks"),
    [
        pytest.param(_chord_of_chains, 3 + 6, 1, id="chord-of-chains"),
        pytest.param(_chord_of_groups, 2 + 4 + 6, 1, id="chord-of-group"),
        pytest.param(_chain_of_chords, (6 + 10) + (6 + 20), 2, id="chain-of-chords"),
        pytest.param(_group_with_a_chord, [6, 10], 1, id="group-with-chord"),
    ],
)
def test_nested_canvas(
    worker: Any,
    db_alias: str,
    task_runs: Counter[str],
    canvas: Any,
    expected: Any,
    callbacks: int,
) -> None:
    """Chords nested in chains and groups give the right result; each callback runs once."""
    result = canvas().apply_async()
    assert result.get(timeout=TIMEOUT, interval=POLL) == expected
    rows = callback_rows(db_alias)
    assert len(rows) == callbacks
    assert {status for _, status in rows} == {states.SUCCESS}
    assert {task_id: task_runs[task_id] for task_id, _ in rows} == {
        task_id: 1 for task_id, _ in rows
    }
