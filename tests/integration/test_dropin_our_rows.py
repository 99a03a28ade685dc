"""Rows ours wrote, read back through the old package.

Pins, on each database and serializer, that the old package reads our states, results, errors,
groups and chords as ours does, needing no migration of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import oldpkg
from tests.integration.dropin_rows_support import OUR_WORKER, Exchange, _exchange

# Fixtures are found by their names in the test module; "as" marks the imports as deliberate.
from tests.integration.dropin_rows_support import old_python as old_python
from tests.integration.dropin_rows_support import serializer as serializer


@pytest.fixture(scope="module")
def our_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows ours wrote (on a fresh database it migrated), as the old package reads them."""
    return _exchange(
        oldpkg.run_current, oldpkg.run_old, OUR_WORKER, tmp_path_factory.mktemp("our-rows")
    )


# -- our rows, read by the old package ----------------------------------------------------------


def test_our_rows_read_back_through_the_old_package(
    our_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """Rows ours wrote read back through the old package: states, results, errors, groups."""
    exchange = our_rows(db_alias, serializer)
    old, ours = exchange["reader"], exchange["writer"]
    assert exchange["pending"] == exchange["beyond_old"] == []
    tasks = old["tasks"]
    assert [tasks[name]["status"] for name in ("success", "extended", "failure", "started")] == [
        "SUCCESS",
        "SUCCESS",
        "FAILURE",
        "STARTED",
    ]
    assert tasks["success"]["result"] == {"sum": 5, "inputs": [2, 3]}
    assert tasks["extended"]["result"] == {"sum": 90, "inputs": [4, 5]}
    assert (tasks["extended"]["args"], tasks["extended"]["kwargs"]) == ("(4, 5)", "{'scale': 10}")
    assert tasks["extended"]["worker"] == ours["tasks"]["extended"]["row"]["worker"]
    error = {"exception": "dropin_tasks.DropinError", "args": ["boom: 42"]}
    assert tasks["failure"]["result"] == old["raised"] == error
    assert tasks["failure"]["traceback"] == ours["tasks"]["failure"]["traceback"]
    assert tasks["started"]["result"]["hostname"] == OUR_WORKER
    assert old["group"]["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert old["chord"]["members"] == exchange["ids"]["chord_members"]
    assert old["chord"]["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    for name, task in ours["tasks"].items():
        # The old package never filled AsyncResult.name (its meta had no "name" key).
        assert tasks[name] == {**task, "name": None}, name
    assert {k: v for k, v in old.items() if k != "tasks"} == {
        k: v for k, v in ours.items() if k != "tasks"
    }
