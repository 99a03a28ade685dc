"""``ChordPartTable``: which header tasks of each chord were counted (``chordpart``, 0015).

One row per counted header task, unique on ``group_id, task_id``: a redelivered header task
finds its row and counts its chord down no second time. The chord counter repository records a
part here and decrements in one transaction (or one statement); the statements take the
counter's ``BoundTable`` where the part's insert depends on the counter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .bound import BoundTable
from .expiry import delete_before
from .models import ChordPart
from .tables import DjangoTable, utc_now

__all__ = ["ChordPartTable"]


class ChordPartTable(DjangoTable):
    """The counted header tasks of each chord (``django_celery_results_chordpart``)."""

    model = ChordPart

    #: The columns a part is inserted with.
    NAMES: ClassVar[tuple[str, ...]] = ("group_id", "task_id", "date_done")

    def params(self, connection: BaseDatabaseWrapper, group_id: str, task_id: str) -> list[Any]:
        """The parameters of a new part's row, in ``NAMES`` order (counted now)."""
        return self.bound(connection).prepare_all(self.NAMES, [group_id, task_id, utc_now()])

    def insert_sql(
        self, connection: BaseDatabaseWrapper, group_id: str, task_id: str, counter: BoundTable
    ) -> tuple[str, list[Any]]:
        """The dialect's ``INSERT`` of the part, given the chord's ``counter``: (SQL, params).

        On the ON CONFLICT family it inserts only while ``counter`` counts the chord, once.
        """
        dialect = self.dialect(connection)
        sql = self.bound(connection).statement(
            ("insert_part", dialect, counter.table),
            lambda b: dialect.insert_part(b, self.NAMES, counter),
        )
        params = self.params(connection, group_id, task_id)
        if dialect.records_part_only_while_counting:
            return sql, [*params, counter.prepare("group_id", group_id)]
        return sql, params

    def record(
        self,
        connection: BaseDatabaseWrapper,
        cursor: Any,
        group_id: str,
        task_id: str,
        counter: BoundTable,
    ) -> bool:
        """Insert the part on ``cursor`` (in the caller's transaction); False if it was there.

        On the ON CONFLICT family (PostgreSQL, SQLite) also False, inserting nothing, when
        ``counter`` holds no count above zero for the chord (``records_only_while_counting``).
        """
        dialect = self.dialect(connection)
        sql, params = self.insert_sql(connection, group_id, task_id, counter)
        if dialect.upserts:
            cursor.execute(sql, params)
            return dialect.part_recorded(cursor)
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute(sql, params)
        except IntegrityError:
            return False
        return True

    def records_only_while_counting(self, connection: BaseDatabaseWrapper) -> bool:
        """Whether ``record`` inserts nothing unless the counter is above zero."""
        return self.dialect(connection).records_part_only_while_counting

    def forget(
        self, connection: BaseDatabaseWrapper, cursor: Any, group_id: str, task_id: str
    ) -> None:
        """Delete one recorded part on ``cursor`` (in the caller's transaction)."""
        sql = self.bound(connection).statement(
            "forget",
            lambda b: (
                f"DELETE FROM {b.table} WHERE {b.columns['group_id']} = %s "
                f"AND {b.columns['task_id']} = %s"
            ),
        )
        cursor.execute(sql, self.params(connection, group_id, task_id)[:2])

    def delete_of_counters_created_before(
        self, connection: BaseDatabaseWrapper, cursor: Any, counter: BoundTable, cutoff: datetime
    ) -> None:
        """Delete the parts of the chords whose ``counter`` was created before ``cutoff``."""
        c = counter.columns
        bound = self.bound(connection)
        cursor.execute(
            f"DELETE FROM {bound.table} WHERE {bound.columns['group_id']} IN "
            f"(SELECT {c['group_id']} FROM {counter.table} WHERE {c['date_created']} < %s)",
            [counter.prepare("date_created", cutoff)],
        )

    def clear(self, group_id: str) -> None:
        """Delete the chord's parts."""
        self.delete_by("group_id", group_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Delete parts counted before ``cutoff``."""
        return delete_before(self, cutoff, batch_size)
