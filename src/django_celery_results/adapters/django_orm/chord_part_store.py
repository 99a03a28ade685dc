"""``DjangoChordPartStore``: a chord header task's result and its count in one transaction.

The ``ChordPartStore`` port over the task and chord counter repositories: PostgreSQL sends one
statement (the result's upsert, the part's insert and the decrement as data-modifying CTEs);
SQLite, MySQL and MariaDB the three statements in one short transaction. Where the tables are
routed to different databases, or the vendor has no upsert, it stores and then counts.
"""

from __future__ import annotations

from django.db import connections

from ...domain.records import PartCount, TaskRecord
from .chord_repository import DjangoChordCounterRepository
from .errors import translate_errors
from .task_repository import DjangoTaskRepository
from .transactions import write_transaction

__all__ = ["DjangoChordPartStore"]


class DjangoChordPartStore:
    """``ChordPartStore``: a header task's result and its count in one transaction.

    PostgreSQL: one statement (the result's upsert, the part's insert and the decrement as
    data-modifying CTEs). SQLite, MySQL and MariaDB: the three statements in one short
    transaction, so one commit (one fsync, one redo flush) per header task instead of two.
    Where the three tables are routed to different databases, or the vendor has no upsert,
    the two steps run one after the other, as without this port.

    Args:
        tasks: the repository whose table and routing hold the result.
        chords: the repository whose tables and routing hold the counter and the parts.
    """

    def __init__(self, tasks: DjangoTaskRepository, chords: DjangoChordCounterRepository) -> None:
        self.tasks = tasks
        self.chords = chords

    def store_part(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]:
        """Store ``record`` and count it as a returned part of chord ``group_id``."""
        tasks, chords = self.tasks, self.chords
        alias = tasks.write_alias()
        shared = chords.write_alias() == alias and chords.parts.write_alias() == alias
        if not shared or not tasks.dialect(connections[alias]).upserts:
            written = tasks.store(record)
            return written, chords.count_part(group_id, record.task_id)
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            with connection.cursor() as cursor:
                if chords.dialect(connection).counts_part_in_one_statement:
                    upsert, upsert_params = tasks.upsert(connection, record)
                    cte, cte_params = chords.counting_cte(
                        connection,
                        group_id,
                        record.task_id,
                        prefix=f"stored AS ({upsert} RETURNING 1), ",
                    )
                    count = chords.bound(connection).columns["count"]
                    cursor.execute(
                        f"{cte} SELECT (SELECT COUNT(*) FROM stored), "
                        f"(SELECT {count} FROM counted)",
                        [*upsert_params, *cte_params],
                    )
                    stored, remaining = cursor.fetchone()
                    written = bool(stored)
                else:
                    with write_transaction(connection):
                        written = tasks.store_on(connection, cursor, record)
                        remaining = chords.count_part_on(
                            connection, cursor, group_id, record.task_id
                        )
                if remaining is not None:
                    return written, PartCount(remaining=int(remaining), counted=True)
                return written, chords.not_counted(connection, cursor, group_id)
