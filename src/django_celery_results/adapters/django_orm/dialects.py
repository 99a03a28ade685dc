"""The SQL the repositories send, one class per SQL family, given only a table description.

Every vendor difference of the repositories' statements lives here, the way Django keeps a
vendor's in ``db/backends/<vendor>/operations.py``. A dialect is handed a ``BoundTable`` (the
quoted table and column names of one model on one connection) and returns SQL text; it also
says what its statements can do (``upserts``, ``decrement_returns_count`` ...) and reads their
answer from the cursor where that differs by family:

- ``OnConflictDialect`` (PostgreSQL, SQLite >= 3.24): ``INSERT ... ON CONFLICT (...) DO UPDATE
  ... WHERE``, and ``UPDATE ... RETURNING`` where the database has it (PostgreSQL, SQLite >=
  3.35); PostgreSQL also runs data-modifying CTEs, so a chord part counts in one statement;
- ``DuplicateKeyDialect`` (MySQL, MariaDB): ``INSERT ... ON DUPLICATE KEY UPDATE col =
  IF(...)``, with ``LAST_INSERT_ID(expr)`` carrying the answer back in the OK packet (Django
  sets ``CLIENT.FOUND_ROWS``, so the affected-row count cannot tell a blocked update from an
  insert);
- ``PortableDialect`` (any other vendor): standard SQL, which the repositories run as several
  statements in a short transaction (``UPDATE`` first, then ``INSERT``).

``dialect_for(connection)`` picks the dialect of a connection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from django.db.backends.base.base import BaseDatabaseWrapper

from .bound import BoundTable

__all__ = [
    "DUPLICATE_KEY",
    "FAMILIES",
    "ON_CONFLICT",
    "PORTABLE",
    "TASK_KEPT_ON_UPDATE",
    "DuplicateKeyDialect",
    "OnConflictDialect",
    "PortableDialect",
    "SqlDialect",
    "dialect_for",
    "placeholders",
]

ON_CONFLICT = "on_conflict"
DUPLICATE_KEY = "duplicate_key"
PORTABLE = "portable"

#: Vendor -> SQL family; a vendor not listed runs the portable statements.
FAMILIES: Mapping[str, str] = {
    "postgresql": ON_CONFLICT,
    "sqlite": ON_CONFLICT,
    "mysql": DUPLICATE_KEY,
}

#: The first SQLite with ``INSERT ... ON CONFLICT DO UPDATE``, and with ``RETURNING``.
SQLITE_UPSERT = (3, 24, 0)
SQLITE_RETURNING = (3, 35, 0)

#: Task columns an update never writes: the key, and the creation date the first write set.
TASK_KEPT_ON_UPDATE = ("task_id", "date_created")


def placeholders(count: int) -> str:
    """``%s, %s, ...``: ``count`` parameter markers."""
    return ", ".join(["%s"] * count)


def _columns(bound: BoundTable, names: Sequence[str]) -> list[str]:
    return [bound.columns[name] for name in names]


def _task_values(
    bound: BoundTable,
    names: Sequence[str],
    *,
    new: Callable[[str], str],
    stored: Callable[[str], str],
    skip: Sequence[str] = TASK_KEPT_ON_UPDATE,
) -> list[tuple[str, str]]:
    """(column, value) of each column a task update writes, in ``names`` order.

    ``new(column)`` is the written value; ``date_started`` keeps the ``stored(column)`` value
    where the new one is NULL (a late STARTED arrives after the record was dated).
    """
    values = []
    for name, column in zip(names, _columns(bound, names), strict=True):
        if name in skip:
            continue
        value = new(column)
        if name == "date_started":
            value = f"COALESCE({value}, {stored(column)})"
        values.append((column, value))
    return values


class SqlDialect:
    """What every family writes alike; the subclasses add their own statements.

    Attributes:
        family: the family's name (``ON_CONFLICT``, ``DUPLICATE_KEY`` or ``PORTABLE``).
        upserts: whether a conditional upsert is one statement (False: update, then insert).
        decrement_returns_count: whether the decrement itself answers the count after it
            (False: a ``SELECT`` in the same transaction reads it back).
        records_part_only_while_counting: whether a chord part's insert checks the counter.
        counts_part_in_one_statement: whether the result's upsert, the part's insert and the
            decrement can be one statement (data-modifying CTEs).
        decrements_before_recording: whether the counter's row is locked before the part's.
        repeats_task_condition: whether the task upsert binds its ``IN`` list once per
            written column instead of once.
    """

    family: ClassVar[str]
    upserts: ClassVar[bool] = True
    decrement_returns_count: bool = False
    records_part_only_while_counting: ClassVar[bool] = False
    counts_part_in_one_statement: bool = False
    decrements_before_recording: ClassVar[bool] = False
    repeats_task_condition: ClassVar[bool] = False

    def insert(self, bound: BoundTable, names: Sequence[str]) -> str:
        """``INSERT`` of one row of ``names``."""
        columns = ", ".join(_columns(bound, names))
        return f"INSERT INTO {bound.table} ({columns}) VALUES ({placeholders(len(names))})"

    def upsert(
        self, bound: BoundTable, names: Sequence[str], key: str, replace: Sequence[str]
    ) -> str:
        """Insert a row of ``names``, or replace the ``replace`` columns of the one at ``key``."""
        raise NotImplementedError(f"the {self.family} family has no upsert")

    def task_upsert(self, bound: BoundTable, names: Sequence[str], blocking: str) -> str:
        """Write a task row unless its stored status is in ``blocking`` (an SQL ``IN`` list).

        ``date_started`` keeps its stored value when the new one is NULL.
        """
        raise NotImplementedError(f"the {self.family} family has no upsert")

    def upsert_wrote(self, cursor: Any) -> bool:
        """Whether the conditional upsert just run on ``cursor`` wrote."""
        return bool(cursor.rowcount == 1)

    def delete_batch(self, bound: BoundTable, date_field: str) -> str:
        """Delete at most ``%s`` rows whose ``date_field`` is before ``%s``."""
        pk, date = bound.pk, bound.columns[date_field]
        return (
            f"DELETE FROM {bound.table} WHERE {pk} IN "
            f"(SELECT {pk} FROM {bound.table} WHERE {date} < %s LIMIT %s)"
        )

    def decrement(self, bound: BoundTable) -> str:
        """Lower a chord's count by one, never below zero."""
        table, count, group = bound.table, bound.columns["count"], bound.columns["group_id"]
        return f"UPDATE {table} SET {count} = {count} - 1 WHERE {group} = %s AND {count} > 0"

    def decremented(self, cursor: Any) -> int | None:
        """The count after the decrement run on ``cursor``, or None if nothing was lowered."""
        raise NotImplementedError(f"the {self.family} family's decrement answers no count")

    def insert_part(self, bound: BoundTable, names: Sequence[str], counter: BoundTable) -> str:
        """Insert a chord part of ``names`` that is not there yet."""
        return self.insert(bound, names)

    def part_recorded(self, cursor: Any) -> bool:
        """Whether the part's insert just run on ``cursor`` inserted a row."""
        return bool(cursor.rowcount)


@attrs.frozen(cache_hash=True)
class PortableDialect(SqlDialect):
    """Standard SQL, for a vendor we have no dialect for (and SQLite before 3.24)."""

    family: ClassVar[str] = PORTABLE
    upserts: ClassVar[bool] = False

    def update(self, bound: BoundTable, replace: Sequence[str], key: str) -> str:
        """``UPDATE`` the ``replace`` columns of the row at ``key``."""
        assignments = ", ".join(f"{column} = %s" for column in _columns(bound, replace))
        return f"UPDATE {bound.table} SET {assignments} WHERE {bound.columns[key]} = %s"

    def task_update(self, bound: BoundTable, names: Sequence[str], blocking: int) -> str:
        """``UPDATE`` a task row unless its status is one of ``blocking`` parameters."""
        values = _task_values(bound, names, new=lambda column: "%s", stored=str)
        assignments = [f"{column} = {value}" for column, value in values]
        c = bound.columns
        return (
            f"UPDATE {bound.table} SET {', '.join(assignments)} "
            f"WHERE {c['task_id']} = %s AND {c['status']} NOT IN ({placeholders(blocking)})"
        )


@attrs.frozen(cache_hash=True)
class OnConflictDialect(SqlDialect):
    """``INSERT ... ON CONFLICT``: PostgreSQL, SQLite >= 3.24.

    Attributes:
        decrement_returns_count: ``UPDATE ... RETURNING`` exists (PostgreSQL, SQLite >= 3.35).
        counts_part_in_one_statement: data-modifying CTEs exist (PostgreSQL only: SQLite and
            MySQL allow SELECT in WITH only).
    """

    family: ClassVar[str] = ON_CONFLICT
    records_part_only_while_counting: ClassVar[bool] = True
    decrement_returns_count: bool = False
    counts_part_in_one_statement: bool = False

    def upsert(
        self, bound: BoundTable, names: Sequence[str], key: str, replace: Sequence[str]
    ) -> str:
        """``INSERT ... ON CONFLICT (key) DO UPDATE SET`` the ``replace`` columns."""
        assignments = [f"{c} = EXCLUDED.{c}" for c in _columns(bound, replace)]
        return (
            f"{self.insert(bound, names)} ON CONFLICT ({bound.columns[key]}) "
            f"DO UPDATE SET {', '.join(assignments)}"
        )

    def task_upsert(self, bound: BoundTable, names: Sequence[str], blocking: str) -> str:
        """The task upsert, its condition in the ``DO UPDATE``'s ``WHERE``."""
        table = bound.table
        values = _task_values(
            bound,
            names,
            new=lambda column: f"EXCLUDED.{column}",
            stored=lambda column: f"{table}.{column}",
        )
        assignments = [f"{column} = {value}" for column, value in values]
        c = bound.columns
        return (
            f"{self.insert(bound, names)} "
            f"ON CONFLICT ({c['task_id']}) DO UPDATE SET {', '.join(assignments)} "
            f"WHERE {table}.{c['status']} NOT IN ({blocking})"
        )

    def decrement(self, bound: BoundTable) -> str:
        """The decrement, answering the count after it where ``RETURNING`` exists."""
        sql = super().decrement(bound)
        return f"{sql} RETURNING {bound.columns['count']}" if self.decrement_returns_count else sql

    def decremented(self, cursor: Any) -> int | None:
        """The count ``RETURNING`` answered, or None if nothing was lowered."""
        rows = cursor.fetchall()
        return int(rows[0][0]) if rows else None

    def insert_part(self, bound: BoundTable, names: Sequence[str], counter: BoundTable) -> str:
        """Insert the part once, only while ``counter`` counts the chord above zero.

        A duplicate report of a finished chord, or one of an unknown chord, leaves no row.
        """
        unique = f"{bound.columns['group_id']}, {bound.columns['task_id']}"
        return (
            f"INSERT INTO {bound.table} ({', '.join(_columns(bound, names))}) "
            f"SELECT {placeholders(len(names))} WHERE EXISTS (SELECT 1 FROM "
            f"{counter.table} WHERE {counter.columns['group_id']} = %s "
            f"AND {counter.columns['count']} > 0) ON CONFLICT ({unique}) DO NOTHING"
        )

    def count_part(self, bound: BoundTable, part_insert: str) -> str:
        """``part AS (...), counted AS (...)``: the CTEs counting a part in one statement.

        ``counted`` holds the count after the decrement, or no row when nothing was counted.
        """
        table, count, group = bound.table, bound.columns["count"], bound.columns["group_id"]
        return (
            f"part AS ({part_insert} RETURNING 1), "
            f"counted AS (UPDATE {table} SET {count} = {count} - 1 "
            f"WHERE {group} = %s AND {count} > 0 AND EXISTS (SELECT 1 FROM part) "
            f"RETURNING {count})"
        )


@attrs.frozen(cache_hash=True)
class DuplicateKeyDialect(SqlDialect):
    """``INSERT ... ON DUPLICATE KEY UPDATE``: MySQL, MariaDB.

    Attributes:
        row_alias: name the new row ``AS new`` (MySQL 8.0.19+, which deprecates
            ``VALUES(col)``); False writes ``VALUES(col)`` (MariaDB, older MySQL).
    """

    family: ClassVar[str] = DUPLICATE_KEY
    decrements_before_recording: ClassVar[bool] = True
    repeats_task_condition: ClassVar[bool] = True
    decrement_returns_count: bool = True
    row_alias: bool = False

    def _new(self, column: str) -> str:
        return f"new.{column}" if self.row_alias else f"VALUES({column})"

    def _insert_new(self, bound: BoundTable, names: Sequence[str]) -> str:
        return self.insert(bound, names) + (" AS new" if self.row_alias else "")

    def upsert(
        self, bound: BoundTable, names: Sequence[str], key: str, replace: Sequence[str]
    ) -> str:
        """``INSERT ... ON DUPLICATE KEY UPDATE`` the ``replace`` columns (``key`` is unique)."""
        assignments = [f"{c} = {self._new(c)}" for c in _columns(bound, replace)]
        return f"{self._insert_new(bound, names)} ON DUPLICATE KEY UPDATE {', '.join(assignments)}"

    def task_upsert(self, bound: BoundTable, names: Sequence[str], blocking: str) -> str:
        """The task upsert, its condition repeated in each assignment (id plus 13 columns)."""
        pk, status = bound.pk, bound.columns["status"]
        condition = f"{status} NOT IN ({blocking})"
        # MySQL evaluates the assignments left to right, each seeing the columns already
        # assigned: every condition must read the *stored* status, so status is assigned last.
        # The id is assigned first, only for its LAST_INSERT_ID side effect (the value never
        # changes): the row's id when written, 0 when blocked, which the client reads as
        # ``lastrowid``.
        assignments = [f"{pk} = IF({condition}, LAST_INSERT_ID({pk}), LAST_INSERT_ID(0) + {pk})"]
        values = _task_values(
            bound, names, new=self._new, stored=str, skip=(*TASK_KEPT_ON_UPDATE, "status")
        )
        assignments += [
            f"{column} = IF({condition}, {value}, {column})" for column, value in values
        ]
        assignments.append(f"{status} = IF({condition}, {self._new(status)}, {status})")
        return f"{self._insert_new(bound, names)} ON DUPLICATE KEY UPDATE {', '.join(assignments)}"

    def upsert_wrote(self, cursor: Any) -> bool:
        """LAST_INSERT_ID(0) in the blocked branch: 0; a write reports the row's id."""
        return bool(cursor.lastrowid)

    def delete_batch(self, bound: BoundTable, date_field: str) -> str:
        """``DELETE ... LIMIT``: MySQL refuses LIMIT in an IN (subquery) on the same table."""
        return f"DELETE FROM {bound.table} WHERE {bound.columns[date_field]} < %s LIMIT %s"

    def decrement(self, bound: BoundTable) -> str:
        """The decrement, its new count carried back as ``LAST_INSERT_ID``."""
        table, count, group = bound.table, bound.columns["count"], bound.columns["group_id"]
        return (
            f"UPDATE {table} SET {count} = LAST_INSERT_ID({count} - 1) "
            f"WHERE {group} = %s AND {count} > 0"
        )

    def decremented(self, cursor: Any) -> int | None:
        """The count ``LAST_INSERT_ID`` carried back, or None if no row was lowered."""
        return int(cursor.lastrowid) if cursor.rowcount else None

    def insert_part(self, bound: BoundTable, names: Sequence[str], counter: BoundTable) -> str:
        """Insert the part; a counted one sets ``LAST_INSERT_ID`` to 0 instead.

        FOUND_ROWS makes the affected-row count ambiguous; LAST_INSERT_ID is the new id on an
        insert and 0 when the part was already counted. No ``WHERE EXISTS`` on the counter
        here: InnoDB would take a shared lock on the counter's row under REPEATABLE READ, and
        two parts then deadlock on the decrement's exclusive lock; the repository removes the
        row again when the decrement counts nothing.
        """
        pk = bound.pk
        return (
            f"{self.insert(bound, names)} ON DUPLICATE KEY UPDATE {pk} = LAST_INSERT_ID(0) + {pk}"
        )

    def part_recorded(self, cursor: Any) -> bool:
        """``lastrowid``: the new id on an insert, 0 when the part was already counted."""
        return bool(cursor.lastrowid)


def _sqlite_version(connection: BaseDatabaseWrapper) -> tuple[int, ...]:
    version: tuple[int, ...] = connection.Database.sqlite_version_info  # type: ignore[attr-defined]
    return version


def _mysql_row_alias(connection: BaseDatabaseWrapper) -> bool:
    # MySQL 8.0.20+ deprecates VALUES(col) in favour of a row alias; MariaDB has no row alias.
    if getattr(connection, "mysql_is_mariadb", True):
        return False
    version: tuple[int, ...] = getattr(connection, "mysql_version", (0,))
    return version >= (8, 0, 19)


@functools.cache
def _dialect(family: str, returning: bool, ctes: bool, row_alias: bool) -> SqlDialect:
    if family == ON_CONFLICT:
        return OnConflictDialect(
            decrement_returns_count=returning, counts_part_in_one_statement=ctes
        )
    if family == DUPLICATE_KEY:
        return DuplicateKeyDialect(row_alias=row_alias)
    return PortableDialect()


def dialect_for(
    connection: BaseDatabaseWrapper, families: Mapping[str, str] = FAMILIES
) -> SqlDialect:
    """The dialect of ``connection``'s vendor under ``families`` (vendor -> family)."""
    vendor = connection.vendor
    family = families.get(vendor, PORTABLE)
    if vendor == "sqlite":
        version = _sqlite_version(connection)
        # Django 4.2 still runs on SQLite 3.21; upserts arrived in 3.24, RETURNING in 3.35.
        if version < SQLITE_UPSERT:
            family = PORTABLE
        returning = version >= SQLITE_RETURNING
    else:
        returning = vendor == "postgresql"
    row_alias = family == DUPLICATE_KEY and _mysql_row_alias(connection)
    return _dialect(family, returning, vendor == "postgresql", row_alias)
