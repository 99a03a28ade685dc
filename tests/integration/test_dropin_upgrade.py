"""Across the upgrade from the old package to ours, and back.

Pins that a chord the old package started is finished by ours, that ``date_done`` stays naive
without ``USE_TZ``, and that the old package still stores tasks, groups and chords on a database
our migrations have changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import oldpkg
from tests.integration.dropin_rows_support import (
    _MODULES,
    OLD_WORKER,
    OUR_WORKER,
    Exchange,
    _exchange,
    _last_json,
    _script,
)

# A fixture is found by its name in the test module; "as" marks the import as deliberate.
from tests.integration.dropin_rows_support import old_python as old_python

#: Starts a chord with the old package, leaving its last member queued on disk.
_START_CHORD = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json", BROKER_DIR)
print(json.dumps(dropin_tasks.start_chord(app, HOSTNAME)))
"""

#: Runs the queued member and the callback of that chord with this package.
_FINISH_CHORD = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json", BROKER_DIR)
print(json.dumps(dropin_tasks.finish_chord(app, HOSTNAME, IDS)))
"""


def _last_json_value(output: str) -> Any:
    """The JSON value a script printed last."""
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rollback_rows(old_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """Rows the old package wrote on a database ours had migrated, as ours reads them."""
    return _exchange(
        oldpkg.run_old,
        oldpkg.run_current,
        OLD_WORKER,
        tmp_path_factory.mktemp("rollback-rows"),
        migrated_by=oldpkg.run_current,
    )


# -- across the upgrade ---------------------------------------------------------------------------


def test_chord_started_by_the_old_package_is_finished_by_ours(
    old_python: Path, db_alias: str, tmp_path: Path
) -> None:
    """A chord in flight at the upgrade: ours counts the old counter down and runs the callback."""
    broker = tmp_path / "broker"
    broker.mkdir()
    (tmp_path / "broker-control").mkdir()
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        dbs = {"default": database}
        ids = _last_json(
            oldpkg.run_old(
                _script(_START_CHORD, BROKER_DIR=str(broker), HOSTNAME=OLD_WORKER),
                databases=dbs,
                modules=_MODULES,
            )
        )
        done = _last_json(
            oldpkg.run_current(
                _script(_FINISH_CHORD, BROKER_DIR=str(broker), HOSTNAME=OUR_WORKER, IDS=ids),
                databases=dbs,
                modules=_MODULES,
            )
        )
    assert done["body"] == [{"sum": 10 + i, "inputs": [10, i]} for i in (1, 2, 3)]
    # Deleted (as the old package did) or kept at zero until it expires: never still counting.
    assert done["counter_left"] in (None, 0)


_DATE_DONE_WITHOUT_USE_TZ = """
import json
from django.core.management import call_command
import dropin_tasks

call_command("migrate", verbosity=0)
app = dropin_tasks.make_app("json")
if WRITE:
    app.backend.store_result("naive-clock", {"a": 1}, "SUCCESS")
print(json.dumps(app.AsyncResult("naive-clock").date_done.isoformat()))
"""


def test_date_done_without_use_tz_is_naive_as_before(
    old_python: Path, db_alias: str, tmp_path: Path
) -> None:
    """With USE_TZ=False, AsyncResult.date_done of an old row is the naive datetime it was."""
    settings = {"USE_TZ": False, "TIME_ZONE": "Europe/Paris"}
    with oldpkg.scratch_database(db_alias, tmp_path) as database:
        dbs = {"default": database}
        old = _last_json_value(
            oldpkg.run_old(
                _script(_DATE_DONE_WITHOUT_USE_TZ, WRITE=True),
                databases=dbs,
                settings=settings,
                modules=_MODULES,
            )
        )
        ours = _last_json_value(
            oldpkg.run_current(
                _script(_DATE_DONE_WITHOUT_USE_TZ, WRITE=False),
                databases=dbs,
                settings=settings,
                modules=_MODULES,
            )
        )
    assert "+" not in old  # naive: no UTC offset
    assert ours == old


def test_old_package_still_writes_after_our_migrations(
    rollback_rows: Exchange, db_alias: str
) -> None:
    """Going back to the old package after ours migrated: it still stores tasks, groups, chords.

    Migrations of ours beyond the old 0014 must leave every column the old package does not
    know nullable or defaulted in the database itself, or its inserts fail.
    """
    exchange = rollback_rows(db_alias, "json")
    ours = exchange["reader"]
    assert exchange["pending"] == []
    assert [ours["tasks"][name]["status"] for name in ("success", "failure", "started")] == [
        "SUCCESS",
        "FAILURE",
        "STARTED",
    ]
    assert ours["group"]["join"] == [{"sum": 2 * i, "inputs": [i, i]} for i in range(3)]
    assert ours["chord"]["states"] == ["SUCCESS", "SUCCESS", "STARTED"]
    assert ours["chord"]["count"] == 1
