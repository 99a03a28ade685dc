"""Rows the old package wrote, read back through ours unchanged.

Pins, on each database and serializer, that ``migrate`` applies only our migrations beyond the
old 0014, and that the old package's SUCCESS, extended fields, FAILURE, STARTED, saved group and
chord in progress read back through ours as the old package itself reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import oldpkg
from tests.integration.dropin_rows_support import OLD_WORKER, Exchange, _exchange

# Fixtures are found by their names in the test module; "as" marks the imports as deliberate.
from tests.integration.dropin_rows_support import old_python as old_python
from tests.integration.dropin_rows_support import serializer as serializer
from tests.schema_snapshot import MIGRATIONS

PICKLE = "application/x-python-serialize"


@pytest.fixture(scope="module")
def old_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows the old package wrote (on a fresh database it migrated), as ours reads them."""
    return _exchange(
        oldpkg.run_old, oldpkg.run_current, OLD_WORKER, tmp_path_factory.mktemp("old-rows")
    )


def _encoding(serializer: str) -> tuple[str, str]:
    return ("application/json", "utf-8") if serializer == "json" else (PICKLE, "binary")


# -- the old package's rows, read by ours --------------------------------------------------------


def test_migrate_on_old_database_applies_nothing(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """``migrate`` with ours on an old, filled database applies only ours beyond the old 0014."""
    exchange = old_rows(db_alias, serializer)
    assert exchange["pending"] == exchange["beyond_old"]
    assert not set(exchange["pending"]) & set(MIGRATIONS)


def test_old_success_reads_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """A SUCCESS with a dict result: status, result, name, args, worker and dates read back."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["success"]
    old = exchange["writer"]["tasks"]["success"]
    assert ours["status"] == "SUCCESS"
    assert ours["result"] == {"sum": 5, "inputs": [2, 3]}
    assert ours["traceback"] is None
    assert ours["name"] == "dropin.add"
    assert (ours["args"], ours["kwargs"]) == ("(2, 3)", "{}")
    # The thread pool gives the request the machine's name, not the worker's node name.
    assert ours["worker"] == ours["row"]["worker"] == old["worker"]
    assert ours["worker"]
    assert ours["date_done"] is not None
    assert ours["date_done"] == old["date_done"] == old["row"]["date_done"]
    assert ours["row"] == old["row"]
    assert (ours["row"]["content_type"], ours["row"]["content_encoding"]) == _encoding(serializer)


def test_old_extended_fields_read_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """args, kwargs, worker, task name and periodic_task_name of an old row read back."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["extended"]
    assert ours["status"] == "SUCCESS"
    assert ours["result"] == {"sum": 90, "inputs": [4, 5]}
    assert ours["name"] == ours["row"]["task_name"] == "dropin.add"
    assert ours["args"] == "(4, 5)"
    assert ours["kwargs"] == "{'scale': 10}"
    assert ours["worker"] == ours["row"]["worker"]
    assert ours["row"]["periodic_task_name"] == "nightly-report"
    assert ours["row"]["date_started"] is not None
    assert ours == {**exchange["writer"]["tasks"]["extended"], "name": "dropin.add"}


def test_old_failure_reraises_the_same_exception(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """An old FAILURE re-raises its exception's type and message, with the same traceback."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["failure"]
    error = {"exception": "dropin_tasks.DropinError", "args": ["boom: 42"]}
    assert ours["status"] == "FAILURE"
    assert ours["result"] == error
    assert exchange["reader"]["raised"] == error
    assert ours["traceback"] is not None
    assert "DropinError: boom: 42" in ours["traceback"]
    assert ours["traceback"] == exchange["writer"]["tasks"]["failure"]["traceback"]
    assert (ours["name"], ours["args"]) == ("dropin.fail", "('boom: 42',)")


def test_old_started_reads_back(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """An old STARTED row reads as STARTED with the worker's pid/hostname meta and start date."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["tasks"]["started"]
    assert ours["status"] == "STARTED"
    assert ours["result"]["hostname"] == OLD_WORKER
    assert isinstance(ours["result"]["pid"], int)
    assert ours["row"]["date_started"] is not None
    assert ours["name"] == "dropin.stay_started"


def test_old_group_restores_and_joins(old_rows: Exchange, db_alias: str, serializer: str) -> None:
    """GroupResult.restore of an old saved group gives its 3 members; join() their results."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["group"]
    assert ours["id"] == exchange["ids"]["group"]
    assert ours["members"] == exchange["ids"]["group_members"]
    assert ours["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert exchange["reader"]["unknown_group"] is True
    assert exchange["reader"]["unknown"] == "PENDING"


def test_old_chord_counter_restores_the_header(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """An old chord in progress: ChordCounter.group_result() gives the header and its states."""
    exchange = old_rows(db_alias, serializer)
    ours = exchange["reader"]["chord"]
    assert ours["id"] == exchange["ids"]["chord"]
    assert ours["members"] == exchange["ids"]["chord_members"]
    assert ours["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    assert ours["count"] == 1
    assert ours["body"] == "PENDING"


def test_old_and_ours_read_old_rows_alike(
    old_rows: Exchange, db_alias: str, serializer: str
) -> None:
    """Ours reads the old rows as the old package itself does (except the name it never read)."""
    exchange = old_rows(db_alias, serializer)
    ours, old = exchange["reader"], exchange["writer"]
    for name, task in old["tasks"].items():
        assert ours["tasks"][name] == {**task, "name": ours["tasks"][name]["name"]}, name
    assert {k: v for k, v in ours.items() if k != "tasks"} == {
        k: v for k, v in old.items() if k != "tasks"
    }
