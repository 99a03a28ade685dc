"""The ORM repositories on every configured database: the port contracts, then ORM specifics.

The contract suites (tests/contract.py) run once per alias (``db_alias``: SQLite, PostgreSQL,
MariaDB). The tests below them pin what only a database adapter promises: how many statements
each operation sends, the transition policy as the rows in the table show it, NUL in text,
routing, error translation after a killed connection, and the old managers' API.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import math
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, cast

import attrs
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models import Field, Model
from django.db.utils import DatabaseError, OperationalError
from django.test.utils import CaptureQueriesContext, override_settings

from django_celery_results.adapters.django_orm.bound import BoundTable
from django_celery_results.adapters.django_orm.chord_parts import ChordPartTable
from django_celery_results.adapters.django_orm.errors import is_transient, translate_errors
from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import ChordPart, GroupResult, TaskResult
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoChordPartStore,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.errors import (
    InvalidRecordError,
    PermanentStorageError,
    TransientStorageError,
)
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    GroupRepository,
    TaskRepository,
)
from django_celery_results.domain.records import ChordCounter, GroupRecord, PartCount, TaskRecord
from django_celery_results.domain.results import ResultStore
from tests import settings as test_settings
from tests.contract import (
    T0,
    ChordCounterRepositoryContract,
    GroupRepositoryContract,
    TaskRepositoryContract,
    full_group,
    full_task,
)
from tests.fakes import FrozenClock
from tests.routers import route_results_to

ALL = "__all__"
#: Tests that need other threads or connections to see their rows (or kill a connection)
#: cannot run inside the test's transaction.
transactional = pytest.mark.django_db(databases=ALL, transaction=True)
pytestmark = pytest.mark.django_db(databases=ALL)


def _close_thread_connections() -> None:
    # Each thread opens its own connections; close them or the test database cannot be dropped.
    for connection in connections.all(initialized_only=True):
        connection.close()


# -- the port contracts, on every alias -----------------------------------------------------------


class TestDjangoTaskRepositoryContract(TaskRepositoryContract):
    """The TaskRepository contract on each database alias."""

    @pytest.fixture
    def task_repo(self, db_alias: str) -> TaskRepository:
        """A task repository pinned to ``db_alias`` (the table is empty at the start)."""
        return DjangoTaskRepository(using=db_alias)

    def contract_thread_finished(self) -> None:
        """Close the worker thread's connections."""
        _close_thread_connections()

    @transactional
    def test_concurrent_successes_exactly_one_wins(self, task_repo: TaskRepository) -> None:
        """store() is one atomic statement: of 8 racing SUCCESS writes exactly one is written."""
        super().test_concurrent_successes_exactly_one_wins(task_repo)


class TestDjangoGroupRepositoryContract(GroupRepositoryContract):
    """The GroupRepository contract on each database alias."""

    @pytest.fixture
    def group_repo(self, db_alias: str) -> GroupRepository:
        """A group repository pinned to ``db_alias``."""
        return DjangoGroupRepository(using=db_alias)


class TestDjangoChordCounterRepositoryContract(ChordCounterRepositoryContract):
    """The ChordCounterRepository contract on each database alias."""

    @pytest.fixture
    def chord_repo(self, db_alias: str) -> ChordCounterRepository:
        """A chord counter repository pinned to ``db_alias``."""
        return DjangoChordCounterRepository(using=db_alias)

    def contract_thread_finished(self) -> None:
        """Close the worker thread's connections."""
        _close_thread_connections()

    @transactional
    def test_concurrent_decrements_are_atomic(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads x 50 decrements on real connections end at 0, each value returned once."""
        super().test_concurrent_decrements_are_atomic(chord_repo)

    @transactional
    def test_concurrent_duplicate_reports_count_once(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """8 threads reporting every header task on real connections count each task once."""
        super().test_concurrent_duplicate_reports_count_once(chord_repo)

    @transactional
    def test_concurrent_claims_have_one_winner(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads claiming one finished chord's callback on real connections: one wins."""
        super().test_concurrent_claims_have_one_winner(chord_repo)


# -- the same contracts through the portable SQL (the path of vendors we have no dialect for) ----


class PortableTaskRepository(DjangoTaskRepository):
    """The task repository with every vendor sent down the portable, standard-SQL path."""

    sql_families: ClassVar[dict[str, str]] = {}


class PortableGroupRepository(DjangoGroupRepository):
    """The group repository on the portable path."""

    sql_families: ClassVar[dict[str, str]] = {}


class PortableChordCounterRepository(DjangoChordCounterRepository):
    """The chord repository on the portable path (also SQLite < 3.35's decrement)."""

    sql_families: ClassVar[dict[str, str]] = {}


def _portable_alias(alias: str) -> str:
    # MySQL/MariaDB always get their own dialect; the portable path's standard SQL (LIMIT in an
    # IN subquery, update-then-insert under InnoDB's gap locks) is not meant for them.
    if connections[alias].vendor == "mysql":
        pytest.skip("MySQL/MariaDB always use the ON DUPLICATE KEY dialect")
    return alias


class TestPortableTaskRepositoryContract(TestDjangoTaskRepositoryContract):
    """The TaskRepository contract through the portable SQL (PostgreSQL and SQLite)."""

    @pytest.fixture
    def task_repo(self, db_alias: str) -> TaskRepository:
        """A portable-SQL task repository pinned to ``db_alias``."""
        return PortableTaskRepository(using=_portable_alias(db_alias))


class TestPortableGroupRepositoryContract(TestDjangoGroupRepositoryContract):
    """The GroupRepository contract through the portable SQL."""

    @pytest.fixture
    def group_repo(self, db_alias: str) -> GroupRepository:
        """A portable-SQL group repository pinned to ``db_alias``."""
        return PortableGroupRepository(using=_portable_alias(db_alias))


class TestPortableChordCounterRepositoryContract(TestDjangoChordCounterRepositoryContract):
    """The ChordCounterRepository contract through the portable SQL."""

    @pytest.fixture
    def chord_repo(self, db_alias: str) -> ChordCounterRepository:
        """A portable-SQL chord counter repository pinned to ``db_alias``."""
        return PortableChordCounterRepository(using=_portable_alias(db_alias))


# -- helpers --------------------------------------------------------------------------------------


def queries_on(alias: str) -> CaptureQueriesContext:
    """Capture the statements sent on ``alias``'s connection (this thread's)."""
    return CaptureQueriesContext(connections[alias])


def stored_row(alias: str, task_id: str) -> dict[str, Any]:
    """The task's row as the table holds it, read with plain SQL (no repository mapping)."""
    table = TaskResult._meta.db_table
    connection = connections[alias]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('status')}, {quote('result')}, {quote('worker')} "
            f"FROM {quote(table)} WHERE {quote('task_id')} = %s",
            [task_id],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    status, result, worker = rows[0]
    return {"status": status, "result": result, "worker": worker}


def warm_up(alias: str) -> None:
    """Open the connection and let the backend cache its server facts before counting."""
    DjangoTaskRepository(using=alias).store(full_task("warm-up", status=states.PENDING))
    DjangoTaskRepository(using=alias).delete("warm-up")


def result_store(alias: str | None, clock: FrozenClock | None = None) -> ResultStore:
    """The domain's use cases over the ORM repositories of ``alias``."""
    return ResultStore(
        tasks=DjangoTaskRepository(using=alias),
        groups=DjangoGroupRepository(using=alias),
        chords=DjangoChordCounterRepository(using=alias),
        clock=clock or FrozenClock(),
    )


# -- statement counts -----------------------------------------------------------------------------


def test_store_new_update_and_blocked_are_one_statement_each(db_alias: str) -> None:
    """A first store, an allowed update and a blocked update each send exactly one statement."""
    repo = DjangoTaskRepository(using=db_alias)
    warm_up(db_alias)
    with queries_on(db_alias) as new:
        assert repo.store(full_task(status=states.STARTED)) is True
    with queries_on(db_alias) as update:
        assert repo.store(full_task(status=states.SUCCESS)) is True
    with queries_on(db_alias) as blocked:
        assert repo.store(full_task(status=states.FAILURE)) is False
    assert [len(new), len(update), len(blocked)] == [1, 1, 1]


def test_reads_and_single_deletes_are_one_statement(db_alias: str) -> None:
    """get(), a group save/get, a chord create and delete() each send one statement.

    Deleting a chord is two: its counter and the header tasks it counted (0015's table).
    """
    tasks = DjangoTaskRepository(using=db_alias)
    groups = DjangoGroupRepository(using=db_alias)
    chords = DjangoChordCounterRepository(using=db_alias)
    warm_up(db_alias)
    tasks.store(full_task())
    counts = []
    for operation in (
        lambda: tasks.get("task-1"),
        lambda: tasks.get("missing"),
        lambda: groups.save(full_group()),
        lambda: groups.save(full_group(result='"again"')),
        lambda: groups.get("group-1"),
        lambda: chords.create(ChordCounter(group_id="c", count=2)),
        lambda: chords.create(ChordCounter(group_id="c", count=3)),
        lambda: chords.get("c"),
        lambda: tasks.delete("task-1"),
        lambda: groups.delete("group-1"),
        lambda: chords.delete("c"),
    ):
        with queries_on(db_alias) as captured:
            operation()
        counts.append(len(captured))
    assert counts == [1] * (len(counts) - 1) + [2]


def test_get_many_is_one_select_per_chunk(db_alias: str) -> None:
    """get_many() of 1200 ids sends ceil(1200 / chunk) SELECTs, chunk within the param limit."""
    repo = DjangoTaskRepository(using=db_alias)
    ids = [f"t-{n:04d}" for n in range(1200)]
    for task_id in ids[::7]:
        repo.store(full_task(task_id))
    chunk = repo.get_many_chunk_size
    max_params = connections[db_alias].features.max_query_params
    if max_params:
        chunk = min(chunk, max_params)
    with queries_on(db_alias) as captured:
        found = repo.get_many(ids)
    assert set(found) == set(ids[::7])
    assert len(captured) == math.ceil(1200 / chunk)


def test_get_many_respects_a_small_chunk_size(db_alias: str) -> None:
    """A subclass's smaller chunk size is honoured: 10 ids in chunks of 3 are 4 SELECTs."""

    class SmallChunks(DjangoTaskRepository):
        get_many_chunk_size = 3

    repo = SmallChunks(using=db_alias)
    for n in range(10):
        repo.store(full_task(f"t-{n}"))
    with queries_on(db_alias) as captured:
        assert len(repo.get_many(f"t-{n}" for n in range(10))) == 10
    assert len(captured) == 4


def test_decrement_is_one_statement(db_alias: str) -> None:
    """decrement() sends one statement; only a counter already at 0 or missing costs a second."""
    repo = DjangoChordCounterRepository(using=db_alias)
    repo.create(ChordCounter(group_id="chord", count=2))
    counts = []
    for expected in (1, 0, 0):
        with queries_on(db_alias) as captured:
            assert repo.decrement("chord") == expected
        counts.append(len(captured))
    with queries_on(db_alias) as missing:
        assert repo.decrement("missing") is None
    assert counts == [1, 1, 2]
    assert len(missing) == 2


@pytest.mark.parametrize("same_date", [True, False], ids=["same-date", "distinct-dates"])
@pytest.mark.parametrize(("rows", "batch"), [(10, 3), (9, 3), (5, 10), (0, 4)])
def test_delete_done_before_is_batched(
    db_alias: str, rows: int, batch: int, same_date: bool
) -> None:
    """N rows in batches of b: about ceil(N / b) DELETEs, never loading rows into Python.

    PostgreSQL and MariaDB: at most ceil(N / b) + 1 DELETEs and nothing else. SQLite cuts
    batches along the date index: one SELECT of a single date finds each batch's end, then
    one DELETE below it; rows sharing one date fall back to a DELETE by ids.
    """
    tasks = DjangoTaskRepository(using=db_alias)
    for n in range(rows):
        date_done = T0 if same_date else T0 + n * timedelta(seconds=1)
        tasks.store(full_task(f"old-{n}", date_done=date_done))
    tasks.store(full_task("young", date_done=T0 + timedelta(days=2)))
    with queries_on(db_alias) as captured:
        assert tasks.delete_done_before(T0 + timedelta(days=1), batch) == rows
    statements = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    deletes = [sql for sql in statements if sql.startswith("DELETE")]
    batches = math.ceil(rows / batch)
    if connections[db_alias].vendor == "sqlite":
        selects = [sql for sql in statements if sql.startswith("SELECT")]
        assert len(selects) + len(deletes) == len(statements), statements
        assert len(selects) == max(1, batches), statements
        # Every batch but the last is cut at a date; rows sharing one date need the fallback.
        extra = len(selects) - 1 if same_date else 0
        assert len(deletes) == len(selects) + extra, statements
    else:
        assert deletes == statements, statements
        assert max(1, batches) <= len(deletes) <= batches + 1
    assert tasks.get("young") is not None


def test_group_delete_done_before_is_batched(db_alias: str) -> None:
    """Group expiry is batched the same way: 7 old groups in batches of 3 are 3 DELETEs.

    (On SQLite each batch is found by a SELECT of its last date first.)
    """
    groups = DjangoGroupRepository(using=db_alias)
    for n in range(7):
        groups.save(full_group(f"old-{n}", date_done=T0 + n * timedelta(seconds=1)))
    with queries_on(db_alias) as captured:
        assert groups.delete_done_before(T0 + timedelta(days=1), 3) == 7
    sqlite = connections[db_alias].vendor == "sqlite"
    assert len(captured) == (6 if sqlite else 3)


def test_expiry_without_a_batch_size_is_one_delete_except_on_sqlite(
    db_alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """batch_size=None: one DELETE on PostgreSQL and MariaDB; SQLite's batches on SQLite."""
    monkeypatch.setattr(DjangoTaskRepository, "expiry_batch_sizes", {"sqlite": 3})
    tasks = DjangoTaskRepository(using=db_alias)
    for n in range(7):
        tasks.store(full_task(f"old-{n}", date_done=T0 + n * timedelta(seconds=1)))
    tasks.store(full_task("young", date_done=T0 + timedelta(days=2)))
    with queries_on(db_alias) as captured:
        assert tasks.delete_done_before(T0 + timedelta(days=1), None) == 7
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == (3 if connections[db_alias].vendor == "sqlite" else 1), deletes
    assert tasks.get("young") is not None


def test_default_expiry_batches_on_sqlite_only() -> None:
    """The declared default: batches of 50,000 rows on SQLite, one DELETE elsewhere."""
    assert DjangoTaskRepository.expiry_batch_sizes == {"sqlite": 50_000}


def test_expiry_batch_setting_batches_every_vendor(db_alias: str) -> None:
    """DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE caps the rows per DELETE on every database."""
    tasks = DjangoTaskRepository(using=db_alias)
    for n in range(7):
        tasks.store(full_task(f"old-{n}", date_done=T0 + n * timedelta(seconds=1)))
    with (
        override_settings(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=3),
        queries_on(db_alias) as captured,
    ):
        assert tasks.delete_done_before(T0 + timedelta(days=1), None) == 7
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3, deletes


@pytest.mark.parametrize("value", [0, -5, "1000", 2.5, True])
def test_expiry_batch_setting_refuses_bad_values(db_alias: str, value: object) -> None:
    """A bad batch size names the setting and the value, and deletes nothing."""
    tasks = DjangoTaskRepository(using=db_alias)
    tasks.store(full_task("old", date_done=T0))
    with (
        override_settings(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=value),
        pytest.raises(ImproperlyConfigured, match=r"DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE.*got"),
    ):
        tasks.delete_done_before(T0 + timedelta(days=1), None)
    assert tasks.get("old") is not None


def test_delete_done_before_refuses_an_empty_batch(db_alias: str) -> None:
    """A batch size below 1 is a programming error, refused before any statement."""
    with queries_on(db_alias) as captured, pytest.raises(ValueError, match="batch_size"):
        DjangoTaskRepository(using=db_alias).delete_done_before(T0, 0)
    assert len(captured) == 0


# -- a chord part's result and its count in one step (ChordPartStore) ------------------------------

#: Statements of ``store_part`` by vendor: PostgreSQL sends one (the result's upsert, the part's
#: insert and the decrement as CTEs); SQLite and MariaDB send the three in one transaction,
#: which Django's query log shows as BEGIN and COMMIT around them: one commit either way.
STORE_PART_STATEMENTS = {"postgresql": 1, "sqlite": 5, "mysql": 5}


def part_store(alias: str) -> DjangoChordPartStore:
    """The ORM's ChordPartStore over the task and chord repositories of ``alias``."""
    return DjangoChordPartStore(
        DjangoTaskRepository(using=alias), DjangoChordCounterRepository(using=alias)
    )


def test_store_part_does_what_store_then_count_part_do(db_alias: str) -> None:
    """Step by step, store_part answers and stores exactly as store + count_part would."""
    combined = part_store(db_alias)
    tasks, chords = combined.tasks, combined.chords
    for group_id in ("one-step", "two-steps"):
        chords.create(ChordCounter(group_id=group_id, count=3))
    script = [
        ("t1", states.STARTED),
        ("t1", states.SUCCESS),
        ("t1", states.SUCCESS),  # a redelivered header task
        ("t2", states.FAILURE),
        ("t2", states.RETRY),  # blocked: a final state stays
        ("t3", states.SUCCESS),  # the last part
        ("t3", states.SUCCESS),  # a duplicate after the end
    ]
    answers: list[tuple[bool, PartCount]] = []
    for index, (task_id, status) in enumerate(script):
        record = full_task(f"1-{task_id}", status=status, result=f'"{index}"')
        one = combined.store_part(record, "one-step")
        two_record = attrs.evolve(record, task_id=f"2-{task_id}")
        two = (tasks.store(two_record), chords.count_part("two-steps", two_record.task_id))
        assert one == two, (index, task_id, status)
        answers.append(one)
    assert [part.is_last for _, part in answers] == [False, False, False, False, False, True, False]
    for task_id, _ in script:
        one_step, two_steps = tasks.get(f"1-{task_id}"), tasks.get(f"2-{task_id}")
        assert one_step is not None
        assert two_steps is not None
        assert attrs.evolve(one_step, task_id="x") == attrs.evolve(two_steps, task_id="x")
    unknown = combined.store_part(full_task("orphan"), "no-such-chord")
    assert unknown == (True, PartCount(remaining=None, counted=False))
    assert tasks.get("orphan") is not None
    # Reports that counted nothing (duplicates, a finished or unknown chord) leave no part rows.
    counted = ChordPart.objects.using(db_alias).values_list("group_id", "task_id")
    assert sorted(counted) == sorted(
        [
            (group, f"{n}-{t}")
            for n, group in ((1, "one-step"), (2, "two-steps"))
            for t in ["t1", "t2", "t3"]
        ]
    )


@transactional
def test_store_part_statements(db_alias: str) -> None:
    """A header task's result and its count: one statement on PostgreSQL, one transaction else."""
    combined = part_store(db_alias)
    warm_up(db_alias)
    combined.chords.create(ChordCounter(group_id="chord", count=2))
    with queries_on(db_alias) as queries:
        answer = combined.store_part(full_task("part-1"), "chord")
    assert answer == (True, PartCount(remaining=1, counted=True))
    assert len(queries) == STORE_PART_STATEMENTS[connections[db_alias].vendor], [
        q["sql"][:60] for q in queries
    ]


@transactional
def test_store_part_keeps_nothing_when_counting_fails(
    db_alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while counting rolls the stored result back too: both or neither."""
    combined = part_store(db_alias)
    combined.chords.create(ChordCounter(group_id="chord", count=2))
    if connections[db_alias].vendor == "postgresql":
        # One statement: a date PostgreSQL cannot read fails it, result upsert included.
        monkeypatch.setattr(
            ChordPartTable, "params", lambda self, connection, g, t: [g, t, "not a date"]
        )
    else:

        def fail(*args: Any) -> int:
            raise DatabaseError("counting failed")

        monkeypatch.setattr(DjangoChordCounterRepository, "decrement_on", fail)
    with pytest.raises(PermanentStorageError):
        combined.store_part(full_task("part-1"), "chord")
    assert combined.tasks.get("part-1") is None
    counter = combined.chords.get("chord")
    assert counter is not None
    assert counter.count == 2
    monkeypatch.undo()
    assert combined.store_part(full_task("part-1"), "chord") == (
        True,
        PartCount(remaining=1, counted=True),
    )


def test_store_part_runs_two_steps_on_the_portable_path(db_alias: str) -> None:
    """Without an upsert dialect, store_part stores then counts, as the use case would."""
    alias = _portable_alias(db_alias)
    combined = DjangoChordPartStore(
        PortableTaskRepository(using=alias), PortableChordCounterRepository(using=alias)
    )
    combined.chords.create(ChordCounter(group_id="chord", count=1))
    assert combined.store_part(full_task("part-1"), "chord") == (
        True,
        PartCount(remaining=0, counted=True),
    )
    assert combined.tasks.get("part-1") is not None


# -- the transition policy, as the table shows it --------------------------------------------------


def test_success_is_not_overwritten_by_started_or_failure(db_alias: str) -> None:
    """A stored SUCCESS row keeps its status, result and worker after late STARTED and FAILURE."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.SUCCESS, result='"done"', worker="w1"))
    assert repo.store(full_task(status=states.STARTED, result=None, worker="w2")) is False
    assert repo.store(full_task(status=states.FAILURE, result='"lost"', worker="w3")) is False
    assert stored_row(db_alias, "task-1") == {
        "status": states.SUCCESS,
        "result": '"done"',
        "worker": "w1",
    }


def test_failure_is_overwritten_by_success(db_alias: str) -> None:
    """A stored FAILURE row becomes SUCCESS when the retried task succeeds."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.FAILURE, result='"lost"', worker="w1"))
    assert repo.store(full_task(status=states.SUCCESS, result='"ok"', worker="w2")) is True
    assert stored_row(db_alias, "task-1") == {
        "status": states.SUCCESS,
        "result": '"ok"',
        "worker": "w2",
    }


def test_started_does_not_overwrite_failure(db_alias: str) -> None:
    """A redelivered task's STARTED does not hide the stored FAILURE."""
    repo = DjangoTaskRepository(using=db_alias)
    repo.store(full_task(status=states.FAILURE, result='"boom"', worker="w1"))
    assert repo.store(full_task(status=states.STARTED, result=None, worker="w2")) is False
    assert stored_row(db_alias, "task-1")["status"] == states.FAILURE


def test_update_keeps_date_created_and_date_started_in_the_table(db_alias: str) -> None:
    """The stored date_created survives every update; date_started survives an update without."""
    repo = DjangoTaskRepository(using=db_alias)
    created, started = T0, T0 + timedelta(seconds=1)
    repo.store(full_task(status=states.STARTED, date_created=created, date_started=started))
    repo.store(
        full_task(
            status=states.SUCCESS,
            date_created=T0 + timedelta(days=1),
            date_started=None,
            date_done=T0 + timedelta(days=1),
        )
    )
    row = TaskResult.objects.using(db_alias).values("date_created", "date_started", "date_done")
    assert list(row) == [
        {"date_created": created, "date_started": started, "date_done": T0 + timedelta(days=1)}
    ]


def test_undated_records_are_dated_on_store(db_alias: str) -> None:
    """A record with no dates gets date_created and date_done at store time (NOT NULL columns)."""
    tasks = DjangoTaskRepository(using=db_alias)
    before = datetime.now(timezone.utc)
    tasks.store(TaskRecord(task_id="bare", status=states.PENDING))
    DjangoGroupRepository(using=db_alias).save(GroupRecord(group_id="bare"))
    stored = tasks.get("bare")
    group = DjangoGroupRepository(using=db_alias).get("bare")
    assert stored is not None
    assert group is not None
    for value in (stored.date_created, stored.date_done, group.date_created, group.date_done):
        assert value is not None
        assert value >= before - timedelta(seconds=1)


# -- NUL in text ----------------------------------------------------------------------------------


def _expected_text(alias: str, text: str) -> str:
    if connections[alias].vendor in DjangoTaskRepository.vendors_rejecting_nul:
        return text.replace("\x00", DjangoTaskRepository.nul_replacement)
    return text


def test_traceback_with_nul_is_stored_and_read_back(db_alias: str) -> None:
    """A traceback quoting a NUL byte is stored; it reads back with U+FFFD where NUL is refused."""
    repo = DjangoTaskRepository(using=db_alias)
    traceback = 'Traceback:\n  ValueError: bad header b"\x00\x01\x00"\n'
    repo.store(full_task(status=states.FAILURE, traceback=traceback, result='"a\x00b"'))
    stored = repo.get("task-1")
    assert stored is not None
    assert stored.traceback == _expected_text(db_alias, traceback)
    assert stored.result == _expected_text(db_alias, '"a\x00b"')


def test_nul_in_group_and_chord_text_is_stored(db_alias: str) -> None:
    """Group results and chord sub_tasks with NUL are stored too (replaced where refused)."""
    groups = DjangoGroupRepository(using=db_alias)
    chords = DjangoChordCounterRepository(using=db_alias)
    groups.save(full_group(result='"\x00"'))
    chords.create(ChordCounter(group_id="chord", sub_tasks='["\x00"]', count=1))
    group = groups.get("group-1")
    counter = chords.get("chord")
    assert group is not None
    assert counter is not None
    assert group.result == _expected_text(db_alias, '"\x00"')
    assert counter.sub_tasks == _expected_text(db_alias, '["\x00"]')


def test_only_postgresql_is_declared_nul_intolerant() -> None:
    """The capability is declared on the adapter class: PostgreSQL alone refuses NUL in text."""
    assert DjangoTaskRepository.vendors_rejecting_nul == frozenset({"postgresql"})
    assert DjangoTaskRepository.nul_replacement == "\ufffd"


# -- limits ---------------------------------------------------------------------------------------


def test_limits_come_from_the_model_fields() -> None:
    """The declared limits mirror the columns' max_length (so the id-length setting counts)."""
    limits = DjangoTaskRepository().limits

    def width(model: type[Model], name: str) -> int | None:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        return field.max_length

    assert limits.id == width(TaskResult, "task_id")
    assert limits.task_name == width(TaskResult, "task_name")
    assert limits.periodic_task_name == width(TaskResult, "periodic_task_name")
    assert limits.worker == width(TaskResult, "worker")
    assert limits.status == width(TaskResult, "status")
    assert limits.content_type == width(TaskResult, "content_type")
    assert limits.content_encoding == width(TaskResult, "content_encoding")
    assert limits.id == width(GroupResult, "group_id")
    assert limits.id == width(ChordCounterModel, "group_id")


@pytest.mark.parametrize(
    ("field", "width_of"),
    [
        ("task_name", lambda limits: limits.task_name),
        ("worker", lambda limits: limits.worker),
        ("periodic_task_name", lambda limits: limits.periodic_task_name),
        ("content_type", lambda limits: limits.content_type),
    ],
)
def test_oversize_value_is_refused_and_nothing_changes(
    db_alias: str, field: str, width_of: Any
) -> None:
    """A value longer than its column is refused by the use case; the stored row is untouched."""
    store = result_store(db_alias)
    store.store_task(full_task(status=states.STARTED))
    before = DjangoTaskRepository(using=db_alias).get("task-1")
    too_long = "x" * (width_of(DjangoTaskRepository().limits) + 1)
    with queries_on(db_alias) as captured, pytest.raises(InvalidRecordError, match=field):
        store.store_task(full_task(status=states.SUCCESS, **{field: too_long}))
    assert len(captured) == 0
    assert DjangoTaskRepository(using=db_alias).get("task-1") == before


def test_oversize_ids_are_refused_before_storage(db_alias: str) -> None:
    """Oversize task, group and chord ids are refused with InvalidRecordError, nothing stored."""
    store = result_store(db_alias)
    long_id = "i" * (DjangoTaskRepository().limits.id + 1)
    with queries_on(db_alias) as captured:
        with pytest.raises(InvalidRecordError, match="task_id"):
            store.store_task(full_task(long_id))
        with pytest.raises(InvalidRecordError, match="group_id"):
            store.save_group(full_group(long_id))
        with pytest.raises(InvalidRecordError, match="group_id"):
            store.start_chord(ChordCounter(group_id=long_id, count=1))
    assert len(captured) == 0


# -- connections and keys --------------------------------------------------------------------------


@transactional
def test_bound_tables_do_not_keep_thread_connections_alive(db_alias: str) -> None:
    """A thread's connection, once closed and dropped, is freed with the tables bound to it."""
    wrappers: list[weakref.ReferenceType[Any]] = []

    def use_and_drop() -> None:
        try:
            assert DjangoTaskRepository(using=db_alias).get("nothing") is None
            wrappers.append(weakref.ref(connections[db_alias]))
        finally:
            _close_thread_connections()

    for _ in range(5):
        thread = threading.Thread(target=use_and_drop)
        thread.start()
        thread.join()
    gc.collect()
    assert len(wrappers) == 5
    assert [ref() for ref in wrappers] == [None] * 5


def test_ids_that_are_not_str_are_looked_up_by_their_text(db_alias: str) -> None:
    """A UUID given as an id is sent as its text, as the model fields would send it."""
    task_id = uuid.uuid4()
    tasks = DjangoTaskRepository(using=db_alias)
    tasks.store(full_task(str(task_id)))
    found = tasks.get(cast(Any, task_id))
    assert found is not None
    assert found.task_id == str(task_id)
    tasks.delete(cast(Any, task_id))
    assert tasks.get(str(task_id)) is None


# -- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("routed_to", sorted(test_settings.DATABASES))
def test_using_none_follows_the_router(routed_to: str) -> None:
    """With using=None, writes and reads go where router.db_for_write/read send the models."""
    others = [alias for alias in test_settings.DATABASES if alias != routed_to]
    with route_results_to(routed_to):
        warm_up(routed_to)
        tasks = DjangoTaskRepository()
        with contextlib.ExitStack() as stack:
            elsewhere = [stack.enter_context(queries_on(alias)) for alias in others]
            here = stack.enter_context(queries_on(routed_to))
            tasks.store(full_task())
            DjangoGroupRepository().save(full_group())
            DjangoChordCounterRepository().create(ChordCounter(group_id="c", count=1))
            assert DjangoChordCounterRepository().decrement("c") == 0
            assert tasks.get("task-1") is not None
            assert tasks.delete_done_before(T0, 10) == 0
        # SQLite finds where an expiry batch ends with a SELECT before its DELETE.
        assert len(here) == (7 if connections[routed_to].vendor == "sqlite" else 6)
        assert [len(captured) for captured in elsewhere] == [0] * len(others)
    assert TaskResult.objects.using(routed_to).filter(task_id="task-1").exists()
    for alias in others:
        assert not TaskResult.objects.using(alias).filter(task_id="task-1").exists()


def test_router_is_asked_on_every_call() -> None:
    """One repository built with using=None follows the router as it changes between calls."""
    aliases = sorted(test_settings.DATABASES)
    tasks = DjangoTaskRepository()
    for alias in aliases:
        with route_results_to(alias):
            tasks.store(full_task(f"on-{alias}"))
    for alias in aliases:
        ids = set(TaskResult.objects.using(alias).values_list("task_id", flat=True))
        assert ids == {f"on-{alias}"}


# -- error translation ----------------------------------------------------------------------------


def _backend_id(alias: str) -> int:
    connection = connections[alias]
    connection.ensure_connection()
    query = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
    with connection.cursor() as cursor:
        cursor.execute(query[connection.vendor])
        return int(cursor.fetchone()[0])


def _kill_from_another_connection(alias: str, backend_id: int) -> None:
    """Terminate ``alias``'s server session from a separate, raw driver connection."""
    settings_dict = connections[alias].settings_dict
    if connections[alias].vendor == "postgresql":
        import psycopg

        with psycopg.connect(
            host=settings_dict["HOST"],
            port=settings_dict["PORT"],
            user=settings_dict["USER"],
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend_id])
    else:
        import MySQLdb

        admin = MySQLdb.connect(
            host=settings_dict["HOST"],
            port=int(settings_dict["PORT"]),
            user=settings_dict["USER"],
            password=settings_dict["PASSWORD"],
        )
        try:
            admin.cursor().execute(f"KILL {int(backend_id)}")
        finally:
            admin.close()


def _server_aliases() -> list[Any]:
    return [
        pytest.param(alias, id=alias)
        for alias in ("postgres", "mariadb")
        if alias in test_settings.DATABASES
    ] or [pytest.param("postgres", marks=pytest.mark.skip(reason="no database server"))]


@transactional
@pytest.mark.parametrize("alias", _server_aliases())
def test_killed_connection_is_transient_and_resets_only_that_alias(alias: str) -> None:
    """A killed session raises TransientStorageError(alias) and resets that alias, not default."""
    repo = DjangoTaskRepository(using=alias)
    repo.store(full_task())
    default = connections["default"]
    default.ensure_connection()
    default_before = default.connection
    _kill_from_another_connection(alias, _backend_id(alias))

    with pytest.raises(TransientStorageError) as raised:
        repo.get("task-1")

    assert raised.value.alias == alias
    assert isinstance(raised.value.__cause__, DatabaseError)
    assert connections[alias].connection is None  # reset: the next call reconnects
    assert default.connection is default_before  # the default alias is untouched
    stored = repo.get("task-1")  # what Celery's retry would do
    assert stored is not None
    assert stored.status == states.SUCCESS


@transactional
@pytest.mark.parametrize("alias", _server_aliases())
def test_killed_connection_inside_atomic_is_left_to_the_transaction(alias: str) -> None:
    """Inside atomic() the error is still transient, but the connection is the block's to close."""
    repo = DjangoTaskRepository(using=alias)
    inside: list[bool] = []

    def store_in_a_transaction() -> None:
        with transaction.atomic(using=alias):
            _kill_from_another_connection(alias, _backend_id(alias))
            try:
                repo.store(full_task())
            finally:
                connection = connections[alias]
                inside.append(connection.in_atomic_block and connection.connection is not None)

    with pytest.raises(TransientStorageError) as raised:
        store_in_a_transaction()
    assert inside == [True]  # not closed under the block's feet
    assert raised.value.alias == alias
    assert repo.get("task-1") is None  # reconnected after the block; nothing was stored


@transactional
def test_locked_sqlite_database_is_transient() -> None:
    """SQLite's "database is locked" is a TransientStorageError on that alias, which is reset."""
    alias = "default"
    connection = connections[alias]
    repo = DjangoTaskRepository(using=alias)
    repo.store(full_task("before"))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")  # this connection only; reset clears it
    locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(TransientStorageError) as raised:
            repo.store(full_task())
    finally:
        locker.close()
    assert raised.value.alias == alias
    assert "locked" in str(raised.value)
    assert isinstance(raised.value.__cause__, OperationalError)
    assert connection.connection is None
    assert repo.store(full_task()) is True


@transactional
def test_data_error_is_permanent_and_keeps_the_connection(db_alias: str) -> None:
    """A value the database refuses (status wider than its column) is a PermanentStorageError."""
    if connections[db_alias].vendor == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    repo = DjangoTaskRepository(using=db_alias)
    connections[db_alias].ensure_connection()
    before = connections[db_alias].connection
    with pytest.raises(PermanentStorageError) as raised:
        # Bypasses the use case's FieldLimits check on purpose.
        repo.store(full_task(status="S" * 51))
    assert raised.value.alias == db_alias
    assert isinstance(raised.value.__cause__, DatabaseError)
    assert connections[db_alias].connection is before


def test_missing_table_is_permanent(db_alias: str) -> None:
    """A statement on a table that does not exist is a PermanentStorageError (never retried)."""

    class NoTable(DjangoTaskRepository):
        def bound(self, connection: Any) -> BoundTable:
            bound = copy.copy(super().bound(connection))  # delete_by caches no statement
            bound.table = str(connection.ops.quote_name("no_such_table_here"))
            return bound

    # raises() outside atomic(): the block sees the error and rolls its savepoint back.
    with pytest.raises(PermanentStorageError) as raised, transaction.atomic(using=db_alias):
        NoTable(using=db_alias).delete("x")
    assert raised.value.alias == db_alias


def _driver_error(alias: str, kind: str) -> BaseException:
    """A driver exception of ``kind`` for the vendor of ``alias``, wrapped as Django wraps it."""
    vendor = connections[alias].vendor
    cause: BaseException
    if vendor == "postgresql":
        import psycopg.errors

        sqlstate = {
            "deadlock": "40P01",
            "serialization": "40001",
            "lock_timeout": "55P03",
            "admin_shutdown": "57P01",
            "connection": "08006",
            "syntax": "42601",
            "unique": "23505",
        }[kind]
        cause = psycopg.errors.lookup(sqlstate)(kind)
    elif vendor == "mysql":
        import MySQLdb

        errno = {
            "deadlock": 1213,
            "serialization": 1213,
            "lock_timeout": 1205,
            "admin_shutdown": 1927,
            "connection": 2013,
            "syntax": 1064,
            "unique": 1062,
        }[kind]
        exc_type = MySQLdb.IntegrityError if kind == "unique" else MySQLdb.OperationalError
        cause = exc_type(errno, kind)
    else:
        message = {
            "deadlock": "database is locked",
            "serialization": "database is locked",
            "lock_timeout": "database table is locked",
            "admin_shutdown": "database is locked",
            "connection": "database is locked",
            "syntax": 'near "x": syntax error',
            "unique": "UNIQUE constraint failed: t.task_id",
        }[kind]
        cause = sqlite3.OperationalError(message)
    wrapped = OperationalError(*cause.args)
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    ("kind", "transient"),
    [
        ("deadlock", True),
        ("serialization", True),
        ("lock_timeout", True),
        ("admin_shutdown", True),
        ("connection", True),
        ("syntax", False),
        ("unique", False),
    ],
)
def test_driver_errors_are_classified(db_alias: str, kind: str, transient: bool) -> None:
    """Deadlocks, lock timeouts, shutdowns and lost connections are transient; the rest is not."""
    error = _driver_error(db_alias, kind)
    assert is_transient(error, db_alias) is transient
    expected = TransientStorageError if transient else PermanentStorageError
    # Inside atomic(): classification only, the test's connection stays open.
    with (
        transaction.atomic(using=db_alias),
        pytest.raises(expected) as raised,
        translate_errors(db_alias),
    ):
        raise error
    assert raised.value.alias == db_alias
    assert raised.value.__cause__ is error


def test_unwrapped_driver_errors_are_translated(db_alias: str) -> None:
    """A driver exception that escaped Django's wrapper is translated all the same."""
    cause = _driver_error(db_alias, "syntax").__cause__
    assert cause is not None
    with pytest.raises(PermanentStorageError) as raised, translate_errors(db_alias):
        raise cause
    assert raised.value.__cause__ is cause


def test_other_exceptions_pass_through() -> None:
    """A non-database exception, or a domain error, leaves translate_errors unchanged."""
    with pytest.raises(KeyError), translate_errors("default"):
        raise KeyError("bug")
    original = TransientStorageError("already translated", alias="postgres")
    with pytest.raises(TransientStorageError) as raised, translate_errors("default"):
        raise original
    assert raised.value is original


def test_translate_errors_is_a_decorator() -> None:
    """translate_errors(alias) decorates a function as well as wrapping a block."""

    @translate_errors("default")
    def fail() -> None:
        raise DatabaseError("no such table: nowhere")

    with pytest.raises(PermanentStorageError, match="no such table"):
        fail()


# -- concurrency beyond the contract --------------------------------------------------------------


@transactional
def test_concurrent_writers_respect_the_policy(db_alias: str) -> None:
    """Racing STARTED, FAILURE and SUCCESS writers of one task always end with SUCCESS stored."""
    repo = DjangoTaskRepository(using=db_alias)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(status: str) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(20):
                repo.store(full_task(status=status, result=f'"{status}-{n}"'))
        except BaseException as exc:  # reported in the test thread
            errors.append(exc)
        finally:
            _close_thread_connections()

    threads = [
        threading.Thread(target=writer, args=(status,))
        for status in (states.STARTED, states.FAILURE, states.SUCCESS) * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert stored_row(db_alias, "task-1")["status"] == states.SUCCESS


# -- time zones -----------------------------------------------------------------------------------


def test_use_tz_false_stores_local_time_and_reads_aware(db_alias: str) -> None:
    """With USE_TZ = False, aware records are stored as naive local time and read back aware."""
    with override_settings(USE_TZ=False, TIME_ZONE="Europe/Paris"):
        repo = DjangoTaskRepository(using=db_alias)
        repo.store(full_task())
        stored = repo.get("task-1")
        naive = TaskResult.objects.using(db_alias).values_list("date_done", flat=True).get()
        assert repo.delete_done_before(T0 + timedelta(seconds=1), 10) == 1
    assert stored is not None
    assert stored.date_done == full_task().date_done
    assert naive == datetime(2024, 5, 17, 14, 34, 56, 789014)  # UTC+2 in May


# -- the managers -------------------------------------------------------------------------------


@pytest.fixture
def routed(db_alias: str) -> Iterator[str]:
    """Route the results models to ``db_alias`` for the managers (which use the routers)."""
    with route_results_to(db_alias):
        yield db_alias


def test_store_result_returns_the_stored_row(routed: str) -> None:
    """TaskResult.objects.store_result() stores one state and returns the saved instance."""
    row = TaskResult.objects.store_result(
        "application/json",
        "utf-8",
        "task-1",
        '{"x": 1}',
        states.SUCCESS,
        traceback=None,
        meta='{"children": []}',
        task_name="proj.add",
        task_args="[1]",
        task_kwargs="{}",
        worker="w1",
        periodic_task_name="nightly",
        date_started=T0,
        exception_retry_count=2,
    )
    assert isinstance(row, TaskResult)
    assert row.pk is not None
    assert (row.status, row.result, row.worker, row.date_started) == (
        states.SUCCESS,
        '{"x": 1}',
        "w1",
        T0,
    )
    assert row.date_done is not None
    assert row.date_created is not None
    assert TaskResult.objects.using(routed).count() == 1


def test_store_result_follows_the_transition_policy(routed: str) -> None:
    """A late STARTED through the manager does not overwrite SUCCESS; the stored row returns."""
    manager = TaskResult.objects
    manager.store_result("application/json", "utf-8", "t", '"ok"', states.SUCCESS)
    row = manager.store_result("application/json", "utf-8", "t", None, states.STARTED)
    assert (row.status, row.result) == (states.SUCCESS, '"ok"')


def test_store_result_accepts_bytes_and_an_explicit_alias(db_alias: str) -> None:
    """Binary payloads given as base64 bytes are stored as text; using= picks the database."""
    row = TaskResult.objects.store_result(
        "application/x-python-serialize", "binary", "t", b"gAR9lC4=", states.SUCCESS, using=db_alias
    )
    assert row.result == "gAR9lC4="
    assert TaskResult.objects.using(db_alias).get(task_id="t").result == "gAR9lC4="


def test_get_task_returns_stored_or_new(routed: str) -> None:
    """get_task() returns the stored row, or an unsaved PENDING one for an unknown id."""
    TaskResult.objects.store_result("application/json", "utf-8", "t", '"ok"', states.SUCCESS)
    assert TaskResult.objects.get_task("t").status == states.SUCCESS
    unknown = TaskResult.objects.get_task("unknown")
    assert (unknown.pk, unknown.task_id, unknown.status) == (None, "unknown", states.PENDING)


def test_store_group_result_and_get_group(routed: str) -> None:
    """store_group_result() upserts (date_created kept) and get_group() reads it back."""
    first = GroupResult.objects.store_group_result("application/json", "utf-8", "g", '"one"')
    second = GroupResult.objects.store_group_result("application/json", "utf-8", "g", '"two"')
    assert second.pk == first.pk
    assert second.result == '"two"'
    assert second.date_created == first.date_created
    assert GroupResult.objects.get_group("g").result == '"two"'
    assert GroupResult.objects.get_group("nope").pk is None


def test_managers_expire_in_batches(routed: str) -> None:
    """get_all_expired() lists rows older than expires; delete_expired() removes them."""
    for task_id in ("old-1", "old-2", "young"):
        TaskResult.objects.store_result("application/json", "utf-8", task_id, None, states.SUCCESS)
    GroupResult.objects.store_group_result("application/json", "utf-8", "old-g", None)
    long_ago = datetime.now(timezone.utc) - timedelta(days=3)
    TaskResult.objects.filter(task_id__startswith="old").update(date_done=long_ago)
    GroupResult.objects.filter(group_id="old-g").update(date_done=long_ago)

    expired = TaskResult.objects.get_all_expired(timedelta(days=1))
    assert sorted(expired.values_list("task_id", flat=True)) == ["old-1", "old-2"]
    assert list(GroupResult.objects.get_all_expired(86400).values_list("group_id", flat=True)) == [
        "old-g"
    ]
    assert TaskResult.objects.delete_expired(timedelta(days=1)) == 2
    assert GroupResult.objects.delete_expired(timedelta(days=1)) == 1
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["young"]
    assert not GroupResult.objects.exists()


def test_manager_connection_helpers(routed: str) -> None:
    """The old managers' connection helpers name the routed database."""
    assert TaskResult.objects.connection_for_write().alias == routed
    assert TaskResult.objects.connection_for_read().alias == routed
    assert TaskResult.objects.current_engine() == connections[routed].settings_dict["ENGINE"]


def test_records_never_leak_model_instances(db_alias: str) -> None:
    """The repositories hand out domain records, never model instances."""
    DjangoTaskRepository(using=db_alias).store(full_task())
    DjangoGroupRepository(using=db_alias).save(full_group())
    DjangoChordCounterRepository(using=db_alias).create(ChordCounter(group_id="c", count=1))
    assert type(DjangoTaskRepository(using=db_alias).get("task-1")) is TaskRecord
    found = DjangoTaskRepository(using=db_alias).get_many(["task-1"])
    assert [type(r) for r in found.values()] == [TaskRecord]
    assert type(DjangoGroupRepository(using=db_alias).get("group-1")) is GroupRecord
    assert type(DjangoChordCounterRepository(using=db_alias).get("c")) is ChordCounter
    assert attrs.has(TaskRecord)
