"""``DjangoChordCounterRepository``: chord counters over ``django_celery_results_chordcounter``.

``decrement`` and ``count_part`` are atomic on every supported database, so header tasks that
finish at the same moment on different hosts each see a distinct count and exactly one of them
sees 0: one ``UPDATE`` (``RETURNING`` the count, or ``LAST_INSERT_ID(count - 1)`` on
MySQL/MariaDB), a part's insert in the same transaction or, on PostgreSQL, the same statement.
Chord recovery claims a finished chord's callback with one conditional ``UPDATE``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, ClassVar

import attrs
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from ...domain.records import ChordCounter, PartCount
from .bound import BoundTable
from .chord_parts import ChordPartTable
from .dialects import OnConflictDialect
from .errors import translate_errors
from .expiry import delete_before
from .models import ChordCounter as ChordCounterModel
from .tables import DjangoTable, record_fields, to_record, utc_now
from .transactions import in_callers_transaction, write_transaction

__all__ = ["CHORD_FIELDS", "DjangoChordCounterRepository"]

#: ``ChordCounter`` attributes, which are also the model's field names, in column order.
CHORD_FIELDS: tuple[str, ...] = record_fields(ChordCounter)


class DjangoChordCounterRepository(DjangoTable):
    """``ChordCounterRepository`` over ``django_celery_results_chordcounter``.

    ``decrement`` is one atomic statement on every supported database, so header tasks that
    finish at the same moment on different hosts each see a distinct count and exactly one of
    them sees 0.

    Args:
        using: the database alias; None follows the routers (see ``DjangoTaskRepository``).
    """

    model = ChordCounterModel

    #: Concurrent decrements cannot interleave, across threads, processes and hosts.
    atomic_decrement: ClassVar[bool] = True

    @property
    def parts(self) -> ChordPartTable:
        """The table of the chords' counted header tasks, on this repository's alias."""
        return ChordPartTable(self.using)

    def create(self, counter: ChordCounter) -> None:
        """Store the counter in one upsert, replacing one with the same group id.

        A counter without ``date_created`` is dated now, so cleanup can expire it.

        Inside the caller's transaction (``transaction.atomic()``, ``ATOMIC_REQUESTS``) the
        counter is written on a connection of its own and committed at once: Celery publishes
        the header tasks before the caller commits, and workers that finish them must find
        the counter, or the chord would fail. SQLite is the exception (one writer at a time:
        a second connection would wait for the caller's lock): there the counter is written in
        the caller's transaction, and the workers' own writes wait for its commit.
        """
        if counter.date_created is None:
            counter = attrs.evolve(counter, date_created=utc_now())
        alias = self.write_alias()
        connection = connections[alias]
        if in_callers_transaction(connection) and connection.vendor != "sqlite":
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcr-chord") as pool:
                pool.submit(self._create_on_own_connection, alias, counter).result()
            return
        self._create_now(alias, counter)

    def _create_on_own_connection(self, alias: str, counter: ChordCounter) -> None:
        try:
            self._create_now(alias, counter)
        finally:
            # This thread's connection, opened for this one write.
            connections[alias].close()

    def _create_now(self, alias: str, counter: ChordCounter) -> None:
        with translate_errors(alias, writing=counter):
            connection = connections[alias]
            values = self.bound(connection).prepare_all(
                CHORD_FIELDS, [getattr(counter, name) for name in CHORD_FIELDS]
            )
            self.upsert_row(
                connection, CHORD_FIELDS, values, key="group_id", replace=CHORD_FIELDS[1:]
            )

    def decrement(self, group_id: str) -> int | None:
        """Lower the count by one, never below zero, atomically; the count after, or None.

        One statement; a second ``SELECT`` only when no row was lowered, to tell a missing
        counter (None) from one already at zero.
        """
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            key = self.bound(connection).prepare("group_id", group_id)
            with connection.cursor() as cursor:
                # Without RETURNING (another vendor, SQLite < 3.35) the new value is read by a
                # second statement, which must see the row as the UPDATE left it.
                if not self.dialect(connection).decrement_returns_count:
                    with write_transaction(connection):
                        remaining = self.decrement_on(connection, cursor, key)
                else:
                    remaining = self.decrement_on(connection, cursor, key)
                if remaining is not None:
                    return remaining
                # Nothing lowered: missing, or already at zero (a redelivered header task).
                return self._count_of(connection, cursor, key)

    def _count_of(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> int | None:
        sql = self.bound(connection).statement(
            "count_of",
            lambda b: (
                f"SELECT {b.columns['count']} FROM {b.table} WHERE {b.columns['group_id']} = %s"
            ),
        )
        cursor.execute(sql, [key])
        row = cursor.fetchone()
        return None if row is None else int(row[0])

    def get(self, group_id: str) -> ChordCounter | None:
        """The stored counter (one ``SELECT``), or None."""
        row = self.get_row(CHORD_FIELDS, "group_id", group_id)
        return None if row is None else to_record(ChordCounter, CHORD_FIELDS, row)

    def claim_callback(self, group_id: str, now: datetime, stale_before: datetime) -> bool:
        """Take on sending the callback (one conditional ``UPDATE``); whether this call won.

        The row is claimed only while its count is zero, nothing was sent, and nobody holds a
        claim younger than ``stale_before`` but this very claim (``now``, when a retry repeats
        it): the database's row lock makes the check and the write one step, so of concurrent
        claimants exactly one sees a matched row (Django's MySQL connections report found
        rows, so a repeated claim that changes no value still counts).
        """
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            sql = bound.statement("claim_callback", _claim_callback_sql)
            params = [
                bound.prepare("date_claimed", now),
                bound.prepare("group_id", group_id),
                bound.prepare("date_claimed", stale_before),
                bound.prepare("date_claimed", now),
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return bool(cursor.rowcount == 1)

    def callback_done(self, group_id: str, now: datetime) -> None:
        """Record that the callback was sent or failed (one ``UPDATE``)."""
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            sql = bound.statement(
                "callback_done",
                lambda b: (
                    f"UPDATE {b.table} SET {b.columns['date_done']} = %s "
                    f"WHERE {b.columns['group_id']} = %s"
                ),
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    sql, [bound.prepare("date_done", now), bound.prepare("group_id", group_id)]
                )

    def awaiting_callback(self, stale_before: datetime, limit: int) -> list[ChordCounter]:
        """Finished chords nobody sent the callback of (see the port), oldest first.

        One ``SELECT`` over the counters table; it holds only chords younger than
        ``result_expires``, so no index is kept for this rare query.
        """
        alias = self.read_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            sql = bound.statement("awaiting_callback", _awaiting_callback_sql)
            stale = bound.prepare("date_claimed", stale_before)
            read = bound.reader(CHORD_FIELDS)
            with connection.cursor() as cursor:
                cursor.execute(sql, [stale, int(limit)])
                return [
                    to_record(ChordCounter, CHORD_FIELDS, read(row)) for row in cursor.fetchall()
                ]

    def delete(self, group_id: str) -> None:
        """Remove the counter and its counted parts; an unknown id is not an error."""
        self.delete_by("group_id", group_id)
        self.parts.clear(group_id)

    def count_part(self, group_id: str, task_id: str) -> PartCount:
        """Count header task ``task_id`` once: record it and decrement, as one atomic step.

        PostgreSQL: one statement (the part's ``INSERT ... ON CONFLICT DO NOTHING`` in a CTE
        that the counter's ``UPDATE`` depends on). SQLite, MySQL and MariaDB: the same two
        statements in one short transaction. A second ``SELECT`` only when nothing was counted
        (a duplicate, or an unknown chord).
        """
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            with connection.cursor() as cursor:
                if self.dialect(connection).counts_part_in_one_statement:
                    sql, params = self.counting_cte(connection, group_id, task_id)
                    cursor.execute(f"{sql} SELECT {bound.columns['count']} FROM counted", params)
                    rows = cursor.fetchall()
                    if rows:
                        return PartCount(remaining=int(rows[0][0]), counted=True)
                else:
                    with write_transaction(connection):
                        remaining = self.count_part_on(connection, cursor, group_id, task_id)
                    if remaining is not None:
                        return PartCount(remaining=remaining, counted=True)
                return self.not_counted(connection, cursor, group_id)

    def counting_cte(
        self, connection: BaseDatabaseWrapper, group_id: str, task_id: str, *, prefix: str = ""
    ) -> tuple[str, list[Any]]:
        """``WITH [prefix] part AS (...), counted AS (...)``: count the part on PostgreSQL.

        ``counted`` holds the count after the decrement, or no row when nothing was counted;
        the caller appends the final ``SELECT`` (and may put its own CTEs in ``prefix``).
        Only where ``dialect.counts_part_in_one_statement``.
        """
        bound = self.bound(connection)
        dialect = self.dialect(connection)
        if not isinstance(dialect, OnConflictDialect):  # pragma: no cover - a caller's mistake
            raise TypeError(f"the {dialect.family} family has no data-modifying CTEs")
        part_insert, part_params = self.parts.insert_sql(connection, group_id, task_id, bound)
        body = bound.statement("counting_cte", lambda b: dialect.count_part(b, part_insert))
        key = bound.prepare("group_id", group_id)
        return f"WITH {prefix}{body}", [*part_params, key]

    def count_part_on(
        self, connection: BaseDatabaseWrapper, cursor: Any, group_id: str, task_id: str
    ) -> int | None:
        """Record the part and decrement on ``cursor``, inside the caller's transaction.

        The count after the decrement, or None when nothing was counted.
        """
        parts, bound = self.parts, self.bound(connection)
        key = bound.prepare("group_id", group_id)
        if self.dialect(connection).decrements_before_recording:
            # InnoDB: the decrement comes first, so its exclusive lock on the counter's row
            # queues every report of the chord before any touches the parts' unique index
            # (concurrent inserts of one part id deadlock there otherwise, and an insert
            # that reads the counter takes a shared lock on it under REPEATABLE READ).
            remaining = self.decrement_on(connection, cursor, key)
            if remaining is None:
                return None  # unknown or finished chord: nothing recorded
            if not parts.record(connection, cursor, group_id, task_id, bound):
                # Already counted: undo the decrement, unseen (the row is still locked by us).
                self._increment_on(connection, cursor, key)
                return None
            return remaining
        if not parts.record(connection, cursor, group_id, task_id, bound):
            return None
        remaining = self.decrement_on(connection, cursor, key)
        if remaining is None and not parts.records_only_while_counting(connection):
            # The part was recorded for a chord that counts nothing more (finished, unknown):
            # take it back, so such reports leave no row behind.
            parts.forget(connection, cursor, group_id, task_id)
        return remaining

    def _increment_on(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> None:
        sql = self.bound(connection).statement(
            "increment",
            lambda b: (
                f"UPDATE {b.table} SET {b.columns['count']} = {b.columns['count']} + 1 "
                f"WHERE {b.columns['group_id']} = %s"
            ),
        )
        cursor.execute(sql, [key])

    def not_counted(self, connection: BaseDatabaseWrapper, cursor: Any, group_id: str) -> PartCount:
        """The answer when a report counted nothing: a duplicate, a finished or unknown chord."""
        key = self.bound(connection).prepare("group_id", group_id)
        return PartCount(remaining=self._count_of(connection, cursor, key), counted=False)

    def decrement_on(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> int | None:
        """Lower the count on ``cursor`` (inside the caller's transaction); None if nothing was.

        ``key`` is the chord's group id as prepared for the table.
        """
        dialect = self.dialect(connection)
        sql = self.bound(connection).statement(("decrement", dialect), dialect.decrement)
        cursor.execute(sql, [key])
        if dialect.decrement_returns_count:
            return dialect.decremented(cursor)
        # No RETURNING: the caller holds a transaction in which the UPDATE took the row's
        # write lock before this SELECT reads the value it wrote.
        return self._count_of(connection, cursor, key) if cursor.rowcount else None

    def clear_parts(self, group_id: str) -> None:
        """Forget which header tasks were counted (one ``DELETE``); the counter stays."""
        self.parts.clear(group_id)

    def delete_created_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove counters created before ``cutoff``, and parts counted before it, in batches.

        Counters without a date (created by the old package after a downgrade) are dated now
        first, so they expire one expiry period later instead of never.
        """
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            date_created = bound.columns["date_created"]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {bound.table} SET {date_created} = %s WHERE {date_created} IS NULL",
                    [bound.prepare("date_created", utc_now())],
                )
                # The parts of the counters about to go, however recently they were counted.
                self.parts.delete_of_counters_created_before(connection, cursor, bound, cutoff)
        # Parts of chords that never had a counter here (reported after cleanup, or unknown).
        self.parts.delete_done_before(cutoff, batch_size)
        return delete_before(self, cutoff, batch_size, date_field="date_created")


def _claim_callback_sql(b: BoundTable) -> str:
    c = b.columns
    return (
        f"UPDATE {b.table} SET {c['date_claimed']} = %s "
        f"WHERE {c['group_id']} = %s AND {c['count']} = 0 AND {c['date_done']} IS NULL "
        f"AND ({c['date_claimed']} IS NULL OR {c['date_claimed']} < %s "
        f"OR {c['date_claimed']} = %s)"
    )


def _awaiting_callback_sql(b: BoundTable) -> str:
    c = b.columns
    since = f"COALESCE({c['date_claimed']}, {c['date_created']})"
    names = ", ".join(c[name] for name in CHORD_FIELDS)
    return (
        f"SELECT {names} FROM {b.table} "
        f"WHERE {c['count']} = 0 AND {c['date_done']} IS NULL AND {c['callback']} IS NOT NULL "
        f"AND ({since} IS NULL OR {since} < %s) "
        f"ORDER BY {since} LIMIT %s"
    )
