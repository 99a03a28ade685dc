"""``chord_size``: the parts a chord waits for, as Celery counts them (issue 9, defect 8)."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery, chain, chord, group, uuid
from celery.result import AsyncResult, GroupResult

from django_celery_results.celery_bridge.chord_size import chord_size

app = Celery("chord-size-tests", set_as_current=False)


@app.task(name="chord_size_tests.add")
def add(x: int, y: int) -> int:
    """Return the sum."""
    return x + y


@app.task(name="chord_size_tests.collect")
def collect(values: Any) -> Any:
    """Return the header's results."""
    return values


def frozen_header(header: list[Any]) -> GroupResult:
    """The header result Celery hands ``apply_chord`` for a chord of ``header``."""
    result = chord(header, collect.s(), app=app).freeze().parent
    assert isinstance(result, GroupResult)
    return result


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param([add.si(1, 1), add.si(2, 2)], 2, id="tasks"),
        pytest.param([chain(add.si(1, 1), add.s(1)), add.si(2, 2)], 2, id="chain-counts-its-last"),
        pytest.param(
            [add.si(1, 100), chain(add.si(1, 200), group(add.si(1, 1000), add.si(1, 2000)))],
            3,
            id="chain-ending-in-a-group",
        ),
        pytest.param([group(add.si(1, 1), add.si(2, 2)), add.si(3, 3)], 3, id="group-in-header"),
        pytest.param(
            [chain(add.si(1, 1), group(add.si(1, 2), chain(add.si(1, 3), add.s(1))))],
            2,
            id="group-holding-a-chain",
        ),
    ],
)
def test_counts_what_celerys_canvas_counts(header: list[Any], expected: int) -> None:
    """The frozen header's count equals Celery's own ``chord.__length_hint__``."""
    assert chord_size(frozen_header(header), collect.s()) == expected
    assert chord(header, collect.s(), app=app).__length_hint__() == expected


def test_tasks_of_nested_groups_count_at_any_depth() -> None:
    """Each task inside a nested GroupResult counts, however deep."""
    inner = GroupResult(uuid(), [AsyncResult(uuid(), app=app), AsyncResult(uuid(), app=app)])
    middle_members: list[Any] = [inner, AsyncResult(uuid(), app=app)]
    middle = GroupResult(uuid(), middle_members)
    members: list[Any] = [AsyncResult(uuid(), app=app), middle]
    assert chord_size(GroupResult(uuid(), members), collect.s()) == 4


def test_a_size_on_the_body_wins() -> None:
    """A ``chord_size`` that Celery put on the body (older releases) is taken as it is."""
    body = collect.s()
    body["chord_size"] = 7
    assert chord_size(frozen_header([add.si(1, 1)]), body) == 7
