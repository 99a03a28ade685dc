"""How many statements each ORM repository operation sends, and expiry's batches."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test.utils import override_settings

from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain import states
from django_celery_results.domain.records import ChordCounter
from tests.contract import (
    T0,
    full_group,
    full_task,
)
from tests.integration.orm_support import ALL, queries_on, warm_up

pytestmark = pytest.mark.django_db(databases=ALL)


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
