"""Expiry: deleting the rows dated before a cutoff, in batches that keep locks short.

``delete_before`` is what every repository's ``delete_done_before`` runs. Without a batch size
(``batch_size=None``) it takes ``DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE``, else the table's
``expiry_batch_sizes`` for the vendor, else one ``DELETE``. Batches are ``DELETE ... LIMIT``
on MySQL/MariaDB, ranges of the date index on SQLite, an ``IN (subquery ... LIMIT)`` elsewhere
and the ORM's own deletes on the portable path.

``TableRetention`` is the retention policy's target (``domain.retention.RetentionTarget``):
it counts and deletes the task rows of one (state, task name) selection, in batches that are
ranges of the primary key, so memory stays flat however many rows go.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

from ...domain.retention import ProgressCallback, Selection
from .dialects import PortableDialect, SqlDialect
from .errors import translate_errors
from .tables import DjangoTable

__all__ = [
    "EXPIRY_BATCH_SETTING",
    "TableRetention",
    "delete_before",
    "expiry_batch_setting",
    "selection_filter",
]

#: Rows per ``DELETE`` of expiry on every database, overriding ``expiry_batch_sizes``: for
#: servers where one big ``DELETE`` fails (a ``statement_timeout``, Galera's or Group
#: Replication's transaction size limits) or lags the replicas too long.
EXPIRY_BATCH_SETTING = "DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE"


def expiry_batch_setting() -> int | None:
    """``DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE``, checked; None when it is not set."""
    value = getattr(settings, EXPIRY_BATCH_SETTING, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(
            f"{EXPIRY_BATCH_SETTING} must be a whole number of rows >= 1 (or None for the "
            f"default steps), got {value!r}"
        )
    return value


def delete_before(
    table: DjangoTable, cutoff: datetime, batch_size: int | None, date_field: str = "date_done"
) -> int:
    """Delete ``table``'s rows with ``date_field < cutoff``; how many were deleted."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    alias = table.write_alias()
    total = 0
    with translate_errors(alias):
        connection = connections[alias]
        if batch_size is None:
            batch_size = expiry_batch_setting()
        if batch_size is None:
            batch_size = table.expiry_batch_sizes.get(connection.vendor)
        bound = table.bound(connection)
        cutoff_value = bound.prepare(date_field, cutoff)
        if batch_size is None:
            # One statement: the server deletes, the client holds nothing whatever the
            # backlog, and on MVCC databases no reader or writer of other rows waits.
            sql = bound.statement(
                ("delete_before", date_field),
                lambda b: f"DELETE FROM {b.table} WHERE {b.columns[date_field]} < %s",
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [cutoff_value])
                return int(cursor.rowcount)
        dialect = table.dialect(connection)
        if isinstance(dialect, PortableDialect):
            return _delete_with_the_orm(table, alias, cutoff, batch_size, date_field)
        if connection.vendor == "sqlite":
            return _delete_by_date_ranges(connection, table, cutoff_value, batch_size, date_field)
        sql = _delete_batch_sql(connection, table, dialect, date_field)
        params = [cutoff_value, batch_size]
        while True:
            # Each batch is its own statement (its own transaction in autocommit), so
            # locks stay short and a huge backlog never grows one giant transaction.
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                deleted = cursor.rowcount
            total += int(deleted)
            if deleted < batch_size:
                return total


def _delete_batch_sql(
    connection: BaseDatabaseWrapper, table: DjangoTable, dialect: SqlDialect, date_field: str
) -> str:
    bound = table.bound(connection)
    return bound.statement(
        ("delete_batch", dialect, date_field), lambda b: dialect.delete_batch(b, date_field)
    )


def _delete_by_date_ranges(
    connection: BaseDatabaseWrapper,
    table: DjangoTable,
    cutoff: Any,
    batch_size: int,
    date_field: str,
) -> int:
    """Batches as ranges of the date index: find where the batch ends, delete below it.

    On SQLite this costs what one ``DELETE`` costs plus one commit per batch, where the
    ``IN (subquery)`` form first materialises every batch's ids (a third slower at 50,000
    rows). A batch whose rows all share one date falls back to that form, so no statement
    ever deletes more than ``batch_size`` rows.
    """
    bound = table.bound(connection)
    column = bound.columns[date_field]
    find_end = bound.statement(
        ("batch_end", date_field),
        lambda b: (
            f"SELECT {column} FROM {b.table} WHERE {column} < %s "
            f"ORDER BY {column} LIMIT 1 OFFSET %s"
        ),
    )
    below = bound.statement(
        ("delete_before", date_field),
        lambda b: f"DELETE FROM {b.table} WHERE {column} < %s",
    )
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(find_end, [cutoff, batch_size])
            row = cursor.fetchone()
            if row is None:  # at most batch_size rows left: the last batch
                cursor.execute(below, [cutoff])
                return total + int(cursor.rowcount)
            # Back to the stored form: sqlite3 parses "datetime" columns into naive
            # datetimes, which Django's adapter turns into the same text again.
            end = row[0]
            if isinstance(end, datetime):
                end = connection.ops.adapt_datetimefield_value(end)
            cursor.execute(below, [end])
            deleted = int(cursor.rowcount)
            if deleted == 0:  # more than batch_size rows share the oldest date
                sql = _delete_batch_sql(connection, table, table.dialect(connection), date_field)
                cursor.execute(sql, [cutoff, batch_size])
                deleted = int(cursor.rowcount)
            total += deleted


def _delete_with_the_orm(
    table: DjangoTable, alias: str, cutoff: datetime, batch_size: int, date_field: str
) -> int:
    """The portable path: the ORM's batched deletes."""
    total = 0
    manager = table.manager(alias)
    while True:
        batch = manager.filter(**{f"{date_field}__lt": cutoff}).values("pk")[:batch_size]
        deleted, _ = manager.filter(pk__in=batch).delete()
        total += int(deleted)
        if deleted < batch_size:
            return total


def selection_filter(selection: Selection) -> Q:
    """The task rows of ``selection`` as a ``Q`` on ``status`` and ``task_name``.

    Rows without a task name are selected by "any name but ..." (an ``exclude`` keeps them,
    where SQL's bare ``NOT IN`` would drop NULLs).
    """
    query = Q()
    if selection.states is not None:
        query &= Q(status__in=sorted(selection.states))
    if selection.except_states:
        query &= ~Q(status__in=sorted(selection.except_states))
    if selection.task_names is not None:
        query &= Q(task_name__in=sorted(selection.task_names))
    if selection.except_task_names:
        query &= Q(task_name__isnull=True) | ~Q(task_name__in=sorted(selection.except_task_names))
    return query


class TableRetention:
    """``RetentionTarget`` over the task, group and chord counter tables.

    Args:
        tasks: the task results table (its rows are selected and deleted).
        groups: the group results table (counted for a dry run).
        chords: the chord counters table (counted for a dry run).
    """

    def __init__(self, tasks: DjangoTable, groups: DjangoTable, chords: DjangoTable) -> None:
        self.tasks = tasks
        self.groups = groups
        self.chords = chords

    def count_done_before(self, selection: Selection, cutoff: datetime) -> int:
        """Task rows of ``selection`` done before ``cutoff`` (one ``COUNT``)."""
        return _count(self.tasks, selection_filter(selection) & Q(date_done__lt=cutoff))

    def count_groups_before(self, cutoff: datetime) -> int:
        """Group results done before ``cutoff`` (one ``COUNT``)."""
        return _count(self.groups, Q(date_done__lt=cutoff))

    def count_chords_before(self, cutoff: datetime) -> int:
        """Chord counters created before ``cutoff`` (one ``COUNT``)."""
        return _count(self.chords, Q(date_created__lt=cutoff))

    def delete_done_before(
        self,
        selection: Selection,
        cutoff: datetime,
        batch_size: int | None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Delete the rows of ``selection`` done before ``cutoff``, by primary-key ranges.

        Each batch is two statements: find the primary key ``batch_size`` matching rows on
        (``ORDER BY pk LIMIT 1 OFFSET n``), then delete the matching rows up to it; the last
        batch deletes the rest. No ids are held but that one, whatever the backlog; each
        ``DELETE`` is its own transaction in autocommit, so locks stay short. Without a batch
        size: ``DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE``, the vendor's step, else one
        ``DELETE``.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        table = self.tasks
        alias = table.write_alias()
        matching = selection_filter(selection) & Q(date_done__lt=cutoff)
        with translate_errors(alias):
            if batch_size is None:
                batch_size = expiry_batch_setting()
            if batch_size is None:
                batch_size = table.expiry_batch_sizes.get(connections[alias].vendor)
            rows = table.manager(alias).filter(matching)
            if batch_size is None:
                total = _raw_delete(rows, alias)
                if progress is not None:
                    progress(total)
                return total
            total = 0
            after: Any = None
            while True:
                todo = rows if after is None else rows.filter(pk__gt=after)
                end = todo.order_by("pk").values_list("pk", flat=True)[batch_size - 1 : batch_size]
                ends = list(end)
                if not ends:  # at most batch_size rows left: the last batch
                    total += _raw_delete(todo, alias)
                    if progress is not None:
                        progress(total)
                    return total
                total += _raw_delete(todo.filter(pk__lte=ends[0]), alias)
                after = ends[0]
                if progress is not None:
                    progress(total)


def _count(table: DjangoTable, query: Q) -> int:
    alias = table.write_alias()
    with translate_errors(alias):
        return int(table.manager(alias).filter(query).count())


def _raw_delete(rows: Any, alias: str) -> int:
    # ``_raw_delete``: one ``DELETE ... WHERE`` whatever signals a project connects to the
    # model; ``QuerySet.delete()`` would load every row first when a receiver exists.
    return int(rows._raw_delete(alias))
