"""``manage.py cleanup_task_results`` and retention in ``backend.cleanup()`` (issue 14).

On every database: a dry run deletes nothing; the policy (per state, per task name) and the
command's overrides delete exactly the rows whose age is past; bad arguments are refused
naming the argument and the limit; the statements of a batched run are counted; the progress
bar shows on a real pseudo-terminal and not on a pipe.
"""

from __future__ import annotations

import io
import itertools
import os
import pty
import threading
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_celery_results.adapters.django_orm.models import GroupResult, TaskResult
from django_celery_results.adapters.memory import (
    MemoryChordCounterRepository,
    MemoryGroupRepository,
    MemoryTaskRepository,
)
from django_celery_results.celery_bridge.retention import run_cleanup
from django_celery_results.domain.records import TaskRecord
from django_celery_results.domain.results import ResultStore
from django_celery_results.domain.retention import RetentionPolicy
from tests.fakes import FrozenClock
from tests.integration.chords_support import db_backend, make_app
from tests.integration.orm_support import queries_on
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STATES = ("SUCCESS", "FAILURE", "STARTED")
NAMES = (None, "proj.report", "proj.other")
AGES_HOURS = (2, 30, 24 * 10)
POLICY = {
    "SUCCESS": DAY,
    "FAILURE": "7d",
    "default": None,
    "tasks": {"proj.report": {"SUCCESS": 3600, "STARTED": "1d"}},
}


@pytest.fixture(autouse=True)
def one_hour_result_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The current Celery app keeps results an hour (the policy's last fallback)."""
    monkeypatch.setitem(current_app.conf, "result_expires", HOUR)


def fill(alias: str) -> dict[str, tuple[str, str | None, timedelta]]:
    """One task row a (state, task name, age), and a group 2h and 10d old; id -> its key."""
    now = timezone.now()
    rows = {}
    for n, (state, name, hours) in enumerate(itertools.product(STATES, NAMES, AGES_HOURS)):
        rows[f"t{n}"] = (state, name, timedelta(hours=hours))
    manager = TaskResult.objects.using(alias)
    manager.bulk_create(
        TaskResult(task_id=task_id, status=state, task_name=name)
        for task_id, (state, name, _) in rows.items()
    )
    for task_id, (_, _, age) in rows.items():
        manager.filter(task_id=task_id).update(date_done=now - age)
    groups = GroupResult.objects.using(alias)
    groups.bulk_create([GroupResult(group_id="g-new"), GroupResult(group_id="g-old")])
    groups.filter(group_id="g-new").update(date_done=now - 2 * HOUR)
    groups.filter(group_id="g-old").update(date_done=now - 10 * DAY)
    return rows


def expected_left(
    rows: dict[str, tuple[str, str | None, timedelta]],
    policy: RetentionPolicy,
    result_expires: timedelta | None = HOUR,
) -> set[str]:
    """The ids the policy keeps (ages are far from the cutoffs: the test's time is no issue)."""
    left = set()
    for task_id, (state, name, age) in rows.items():
        keep = policy.age_of(state, name, result_expires)
        if keep is None or age < keep:
            left.add(task_id)
    return left


def left(alias: str) -> set[str]:
    """The task ids still stored on ``alias``."""
    return set(TaskResult.objects.using(alias).values_list("task_id", flat=True))


def run(alias: str, *args: str) -> str:
    """Run the command on ``alias``; its stdout."""
    out = io.StringIO()
    call_command("cleanup_task_results", "--database", alias, *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_deletes_nothing(db_alias: str, settings: Any) -> None:
    """--dry-run prints what each rule would delete, and every row is still there."""
    settings.DJANGO_CELERY_RESULTS_RETENTION = POLICY
    rows = fill(db_alias)
    out = run(db_alias, "--dry-run")
    assert left(db_alias) == set(rows)
    assert GroupResult.objects.using(db_alias).count() == 2
    would = len(rows) - len(expected_left(rows, RetentionPolicy.from_setting(POLICY)))
    assert f"Dry run: {would} task results would be deleted" in out
    assert "would delete 4 task results: state SUCCESS, task * except proj.report" in out
    assert "group results and chord counters: kept" in out  # "default": None


def test_the_policy_deletes_exactly_the_expired_rows(db_alias: str, settings: Any) -> None:
    """Per state and per task name, each row goes exactly when its age is past; in batches."""
    settings.DJANGO_CELERY_RESULTS_RETENTION = POLICY
    rows = fill(db_alias)
    out = run(db_alias, "--batch-size", "2")
    assert left(db_alias) == expected_left(rows, RetentionPolicy.from_setting(POLICY))
    deleted = len(rows) - len(left(db_alias))
    assert f"Deleted {deleted} task results in " in out
    assert "deleted 3 task results: state SUCCESS, task proj.report, older than 1h" in out
    assert GroupResult.objects.using(db_alias).count() == 2  # "default": None keeps groups


def test_without_the_setting_result_expires_applies_to_everything(db_alias: str) -> None:
    """No policy: every result older than result_expires goes, groups too (as before)."""
    rows = fill(db_alias)
    run(db_alias)
    assert left(db_alias) == expected_left(rows, RetentionPolicy())
    assert list(GroupResult.objects.using(db_alias).values_list("group_id", flat=True)) == []


def test_backend_cleanup_applies_the_policy(db_alias: str, settings: Any) -> None:
    """backend.cleanup() (celery.backend_cleanup) deletes by the policy; groups by its default."""
    policy = {**POLICY, "default": "3d"}
    settings.DJANGO_CELERY_RESULTS_RETENTION = policy
    rows = fill(db_alias)
    with route_results_to(db_alias):
        db_backend(make_app(result_expires=HOUR)).cleanup()
    assert left(db_alias) == expected_left(rows, RetentionPolicy.from_setting(policy))
    assert list(GroupResult.objects.using(db_alias).values_list("group_id", flat=True)) == ["g-new"]


@pytest.mark.parametrize(
    ("args", "policy"),
    [
        (["--older-than", "1d"], {"default": DAY}),
        (["--older-than", "1d", "--state", "SUCCESS"], {"SUCCESS": DAY, "default": None}),
        (
            ["--older-than", "3h", "--task-name", "proj.other", "--task-name", "proj.report"],
            {
                "default": None,
                "tasks": {"proj.other": {"default": 3}, "proj.report": {"default": 3}},
            },
        ),
        (["--keep", "SUCCESS=never", "--keep", "proj.other:FAILURE=1h"], None),
    ],
)
def test_command_line_overrides(
    db_alias: str, settings: Any, args: list[str], policy: dict[str, Any] | None
) -> None:
    """--older-than, --state, --task-name and --keep change this run's ages, nothing else."""
    settings.DJANGO_CELERY_RESULTS_RETENTION = POLICY
    rows = fill(db_alias)
    run(db_alias, *args)
    if policy is None:  # the --keep case: POLICY with two keys replaced
        expected = RetentionPolicy.from_setting(POLICY).override(
            ages={"SUCCESS": None}, task_ages={"proj.other": {"FAILURE": HOUR}}
        )
    else:
        if "tasks" in policy:  # hours, in the parametrization's shorthand
            policy["tasks"] = {k: {"default": 3 * 3600} for k in policy["tasks"]}
        expected = RetentionPolicy.from_setting(policy)
    assert left(db_alias) == expected_left(rows, expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--older-than", "0"], "--older-than: must be more than 0 seconds"),
        (["--older-than", "soon"], "--older-than: 'soon' is not a duration"),
        (["--older-than", "1d", "--keep", "SUCCESS=1d"], "cannot be combined"),
        (["--keep", "SUCCESS"], "--keep SUCCESS: expected \\[TASK:\\]STATE=DURATION"),
        (["--keep", "success=1d"], "the state must be in capitals"),
        (["--keep", "SUCCESS=0"], "--keep SUCCESS=0: must be more than 0 seconds"),
        (["--keep", "SUCCESS=-1"], "--keep SUCCESS=-1: '-1' is not a duration"),
        (["--state", "success"], "--state: 'success' is not a state name"),
        (["--database", "nope"], "--database: unknown alias 'nope'"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_limit(args: list[str], message: str) -> None:
    """Each bad argument is a CommandError saying which argument and what it must be."""
    out = io.StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("cleanup_task_results", *args, stdout=out)


def test_a_bad_setting_is_a_command_error(settings: Any) -> None:
    """An invalid DJANGO_CELERY_RESULTS_RETENTION is refused with the key that is wrong."""
    settings.DJANGO_CELERY_RESULTS_RETENTION = {"SUCCESS": 0}
    with pytest.raises(CommandError, match=r"\['SUCCESS'\]: must be more than 0 seconds"):
        call_command("cleanup_task_results", "--dry-run", stdout=io.StringIO())


def test_statements_of_a_batched_run(db_alias: str) -> None:
    """One rule, 5 rows, batches of 2: 6 statements, none reading the rows themselves.

    (Find the batch's end, DELETE) twice, then the end that is not there and the last DELETE.
    """
    fill(db_alias)  # 9 SUCCESS rows, 6 of them older than 1d
    TaskResult.objects.using(db_alias).filter(task_id="t2").delete()  # 5 left to delete
    with queries_on(db_alias) as queries:
        out = run(db_alias, "--state", "SUCCESS", "--older-than", "1d", "--batch-size", "2")
    assert "deleted 5 task results: state SUCCESS, task *, older than 1d" in out
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements == ["SELECT", "DELETE"] * 3


def test_statements_of_a_dry_run(db_alias: str, settings: Any) -> None:
    """A dry run is one COUNT a rule, and one each for groups and chord counters."""
    settings.DJANGO_CELERY_RESULTS_RETENTION = {"SUCCESS": DAY, "default": "3d"}
    fill(db_alias)
    rules = RetentionPolicy.from_setting(settings.DJANGO_CELERY_RESULTS_RETENTION).rules(HOUR)
    with queries_on(db_alias) as queries:
        run(db_alias, "--dry-run")
    assert len(queries.captured_queries) == len(rules) + 2
    assert all("COUNT" in q["sql"].upper() for q in queries.captured_queries)


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the slave side closed (EIO on Linux)
            return
        if not chunk:
            return
        into.append(chunk)


def test_progress_bar_on_a_pseudo_terminal(db_alias: str) -> None:
    """On a pty the command draws a bar per rule; on another stream it prints none.

    The bar is redrawn (carriage return) after each batch; the totals follow.
    """
    fill(db_alias)
    master, slave = pty.openpty()
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(master, chunks), daemon=True)
    reader.start()
    with os.fdopen(slave, "w", encoding="utf-8") as terminal:
        assert terminal.isatty()
        call_command(
            "cleanup_task_results",
            "--database",
            db_alias,
            "--state",
            "FAILURE",
            "--older-than",
            "1d",
            "--batch-size",
            "2",
            stdout=terminal,
        )
    reader.join(timeout=10)
    os.close(master)
    shown = b"".join(chunks).decode()
    # 6 FAILURE rows older than a day, deleted 2 by 2: the bar at 0, 2, 4, 6 (and 6 again).
    assert "\rFAILURE / * [" + "-" * 30 + "] 0/6" in shown
    assert "[" + "#" * 10 + "-" * 20 + "] 2/6" in shown
    assert "[" + "#" * 30 + "] 6/6" in shown
    assert "deleted 6 task results: state FAILURE, task *, older than 1d" in shown
    assert left(db_alias) == {
        f"t{n}"
        for n, (state, _, hours) in enumerate(itertools.product(STATES, NAMES, AGES_HOURS))
        if state != "FAILURE" or hours < 24
    }
    plain = run(db_alias, "--state", "SUCCESS", "--older-than", "1d")
    assert "\r" not in plain
    assert "[" not in plain


def test_other_repositories_get_one_age_for_all(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """With the memory repositories, the policy's default applies to every result.

    A warning says that per-state and per-task rules need the ORM.
    """
    settings.DJANGO_CELERY_RESULTS_REPOSITORIES = "memory"
    policy = RetentionPolicy.from_setting({"SUCCESS": HOUR, "default": DAY})
    clock = FrozenClock()
    store = ResultStore(
        MemoryTaskRepository(), MemoryGroupRepository(), MemoryChordCounterRepository(), clock
    )
    now = clock.now()
    store.tasks.store(TaskRecord(task_id="old", status="SUCCESS", date_done=now - 2 * DAY))
    store.tasks.store(TaskRecord(task_id="new", status="SUCCESS", date_done=now - 2 * HOUR))
    report = run_cleanup(store, None, policy, policy.rules(None), policy.default_age(None))
    assert report.untargeted == 1
    assert report.tasks == 1
    assert store.get_task("old") is None
    assert store.get_task("new") is not None  # 2h: past SUCCESS's hour, within the default day
    assert "needs the ORM repositories" in caplog.text
