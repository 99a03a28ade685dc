"""Smoke test of the benchmark scenarios: quick mode, in-process, our backend on SQLite.

The benchmark suite (``./benchmarks/run``) runs ``benchmarks.scenarios`` in separate venvs
against both packages; this test runs the same package here, against ours only, so a change that
breaks a scenario, or that adds round trips, fails the test suite instead of the next benchmark
run. It pins round-trip counts, never times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from celery import _state

from benchmarks import scenarios

pytestmark = pytest.mark.django_db(databases=["default"], transaction=True)

#: Quick mode, one timed repeat, and a smaller backlog for cleanup.
SMOKE = replace(
    scenarios.QUICK,
    repeats=1,
    chord_runs=1,
    cleanup_repeats=1,
    cleanup_rows=2000,
    cleanup_small_rows=200,
).for_vendor("sqlite")


@pytest.fixture
def bench() -> Iterator[scenarios.Bench]:
    """Our ``django-db`` backend on the test run's SQLite ``default`` database."""
    # Celery's Django fix-up makes the first app it sees the process's default app when there
    # is none yet (celery/fixups/django.py). The bench app is closed (deregistered) below, so
    # as the default it would hide shared tasks imported later (django_celery_results.tasks)
    # from every later test: make sure a default app exists before it is created.
    _state.get_current_app()
    app = scenarios.make_app("django-db")
    yield scenarios.Bench(app=app, impl="ours", kind="db", vendor="sqlite", scale=SMOKE)
    app.close()


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "ok", result.get("error") or result.get("reason")
    return result


def test_store_and_update_are_one_statement_each(bench: scenarios.Bench) -> None:
    """A new result, its STARTED and its SUCCESS over STARTED are one statement each."""
    store = _ok(scenarios.scenario_store(bench))
    assert (store["round_trips"]["min"], store["round_trips"]["max"]) == (1, 1)
    update = _ok(scenarios.scenario_update(bench))
    assert (update["round_trips"]["min"], update["round_trips"]["max"]) == (1, 1)
    started = update["started"]["round_trips"]
    assert (started["min"], started["max"]) == (1, 1)


def test_uncached_get_is_one_query(bench: scenarios.Bench) -> None:
    """``get_task_meta(cache=False)`` reads a stored result with one query."""
    get = _ok(scenarios.scenario_get(bench))
    assert (get["round_trips"]["min"], get["round_trips"]["max"]) == (1, 1)


def test_join_of_500_is_one_native_query(bench: scenarios.Bench) -> None:
    """Joining 500 stored results is native and takes one query (one chunk on SQLite)."""
    join = _ok(scenarios.scenario_join(bench))
    assert join["native"] is True
    assert join["round_trips"]["max"] == 1


def test_chord_statements_are_constant_and_callback_fires_once(bench: scenarios.Bench) -> None:
    """A chord costs the same statements per part at any size; its callback fires once."""
    chord = _ok(scenarios.scenario_chord(bench))
    full, half = chord["round_trips"], chord["round_trips_half"]
    assert full["apply_chord"] == half["apply_chord"] == 1
    assert full["part"]["min"] == full["part"]["max"] == half["part"]["max"]
    assert full["last_part"] == half["last_part"]
    assert full["unlock"] == 0
    assert full["outcome"]["unlock_tasks"] == 0
    assert chord["fired_once"] == chord["chords"]


def test_cleanup_keeps_fresh_rows_with_flat_memory(bench: scenarios.Bench) -> None:
    """Cleanup deletes every expired row, keeps the fresh ones, and its heap peak stays flat."""
    cleanup = _ok(scenarios.scenario_cleanup(bench))
    small, large = cleanup["memory"]
    assert large["rows"] == 10 * small["rows"]
    assert large["peak_python_bytes"] <= small["peak_python_bytes"] * 1.5 + 256 * 1024
