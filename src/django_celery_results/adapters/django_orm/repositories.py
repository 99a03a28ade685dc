"""The ORM repositories: task, group and chord records over the results tables, one statement each.

Writes are single SQL statements built for the vendor of the alias they run on (the domain's
transition policy and the chord countdown are decided *inside* the database, so concurrent
workers on several hosts cannot interleave between a read and a write):

- PostgreSQL and SQLite: ``INSERT ... ON CONFLICT (...) DO UPDATE ... WHERE``, and
  ``UPDATE ... RETURNING`` for the chord countdown;
- MySQL and MariaDB: ``INSERT ... ON DUPLICATE KEY UPDATE col = IF(...)``, with
  ``LAST_INSERT_ID(expr)`` carrying the answer back in the OK packet (Django sets
  ``CLIENT.FOUND_ROWS``, so the affected-row count cannot tell a blocked update from an insert);
- any other vendor: standard SQL in a short transaction (``UPDATE`` first, then ``INSERT``),
  correct but two or three round trips.

Reads go through the ORM's ``values_list`` (one ``SELECT`` per call, per chunk of ids), so the
backend's own converters turn columns into Python values. Model instances never leave this
module: rows become ``TaskRecord``/``GroupRecord``/``ChordCounter`` and back.

Every method runs inside ``translate_errors(alias)``: callers only ever see domain errors.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, ClassVar

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone as django_timezone

from ...domain import states
from ...domain.records import ChordCounter, FieldLimits, GroupRecord, PartCount, TaskRecord
from .bound import BoundTable, bound_table
from .errors import translate_errors
from .models import ChordCounter as ChordCounterModel
from .models import ChordPart, GroupResult, TaskResult

__all__ = [
    "DjangoChordCounterRepository",
    "DjangoChordPartStore",
    "DjangoGroupRepository",
    "DjangoTaskRepository",
]

#: ``TaskRecord`` attributes, which are also ``TaskResult`` field names, in column order.
TASK_FIELDS: tuple[str, ...] = (
    "task_id",
    "status",
    "content_type",
    "content_encoding",
    "result",
    "traceback",
    "meta",
    "task_name",
    "task_args",
    "task_kwargs",
    "worker",
    "periodic_task_name",
    "date_created",
    "date_started",
    "date_done",
)
GROUP_FIELDS: tuple[str, ...] = (
    "group_id",
    "content_type",
    "content_encoding",
    "result",
    "date_created",
    "date_done",
)
CHORD_FIELDS: tuple[str, ...] = (
    "group_id",
    "sub_tasks",
    "count",
    "date_created",
    "callback",
    "date_claimed",
    "date_done",
)
_DATE_CREATED = TASK_FIELDS.index("date_created")
_DATE_DONE = TASK_FIELDS.index("date_done")

# SQL families. A vendor not listed runs the portable statements.
_ON_CONFLICT = "on_conflict"  # PostgreSQL, SQLite: INSERT ... ON CONFLICT, UPDATE ... RETURNING
_DUPLICATE_KEY = "duplicate_key"  # MySQL, MariaDB: ON DUPLICATE KEY UPDATE, LAST_INSERT_ID(expr)
_PORTABLE = "portable"  # anything else: standard SQL in a short transaction

#: The first SQLite with ``INSERT ... ON CONFLICT DO UPDATE``, and with ``RETURNING``.
_SQLITE_UPSERT = (3, 24, 0)
_SQLITE_RETURNING = (3, 35, 0)


def _sqlite_version(connection: BaseDatabaseWrapper) -> tuple[int, ...]:
    version: tuple[int, ...] = connection.Database.sqlite_version_info  # type: ignore[attr-defined]
    return version


class _DjangoRepository:
    """What the three repositories share: alias routing, SQL flavour, value conversion."""

    model: ClassVar[type[Model]]

    #: Vendors whose text columns cannot hold NUL: PostgreSQL refuses ``"\x00"`` in ``text``
    #: and ``varchar``. On them every NUL of a written text value becomes ``nul_replacement``,
    #: so a traceback quoting binary data is stored (slightly altered) instead of failing the
    #: task's state update.
    vendors_rejecting_nul: ClassVar[frozenset[str]] = frozenset({"postgresql"})
    nul_replacement: ClassVar[str] = "\ufffd"

    #: Vendor -> rows per ``DELETE`` when expiry leaves the batch size to the repository
    #: (``batch_size=None``); a vendor not listed gets one ``DELETE`` per table. SQLite has one
    #: write lock for the whole database: 50,000 rows hold it for about a quarter of a second
    #: here, so workers storing results wait that long at most, and a backlog of 100,000 rows
    #: takes three statements (measured in BENCHMARKS.md against the old single ``DELETE``).
    #: ``DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE`` sets one batch size for every vendor.
    expiry_batch_sizes: ClassVar[Mapping[str, int]] = {"sqlite": 50_000}

    #: Vendor -> SQL family; a subclass (or a test) can point a vendor at another family.
    sql_families: ClassVar[Mapping[str, str]] = {
        "postgresql": _ON_CONFLICT,
        "sqlite": _ON_CONFLICT,
        "mysql": _DUPLICATE_KEY,
    }

    def __init__(self, using: str | None = None) -> None:
        self.using = using

    def _write_alias(self) -> str:
        # Asked on every call: routers may depend on the thread, the request, a context block.
        return self.using or router.db_for_write(self.model)

    def _read_alias(self) -> str:
        return self.using or router.db_for_read(self.model)

    def _family(self, connection: BaseDatabaseWrapper) -> str:
        family = self.sql_families.get(connection.vendor, _PORTABLE)
        # Django 4.2 still runs on SQLite 3.21; upserts arrived in 3.24.
        sqlite_without_upsert = (
            connection.vendor == "sqlite" and _sqlite_version(connection) < _SQLITE_UPSERT
        )
        return _PORTABLE if sqlite_without_upsert else family

    def _returning(self, connection: BaseDatabaseWrapper) -> bool:
        # ON CONFLICT exists since SQLite 3.24 but RETURNING only since 3.35.
        if connection.vendor == "sqlite":
            return _sqlite_version(connection) >= _SQLITE_RETURNING
        return connection.vendor == "postgresql"

    def _manager(self, alias: str) -> Any:
        # ``_base_manager``: a project's custom default manager must not filter our reads.
        return self.model._base_manager.db_manager(alias).order_by()

    def _bound(self, connection: BaseDatabaseWrapper) -> BoundTable:
        """The model's table on ``connection``: names, preparers, converters, cached SQL."""
        rejects_nul = connection.vendor in self.vendors_rejecting_nul
        return bound_table(self.model, connection, self.nul_replacement if rejects_nul else None)

    def _column(self, connection: BaseDatabaseWrapper, name: str) -> str:
        return self._bound(connection).columns[name]

    def _table(self, connection: BaseDatabaseWrapper) -> str:
        return self._bound(connection).table

    def _text(self, connection: BaseDatabaseWrapper, value: str) -> str:
        if connection.vendor in self.vendors_rejecting_nul and "\x00" in value:
            return value.replace("\x00", self.nul_replacement)
        return value

    def _db_value(self, connection: BaseDatabaseWrapper, name: str, value: Any) -> Any:
        """``value`` for column ``name``, the way the field would send it to this database."""
        return self._bound(connection).prepare(name, value)

    def _db_values(
        self, connection: BaseDatabaseWrapper, names: Sequence[str], source: object
    ) -> list[Any]:
        return self._bound(connection).prepare_all(names, [getattr(source, name) for name in names])

    def _select(
        self,
        connection: BaseDatabaseWrapper,
        names: tuple[str, ...],
        key: str,
        values: Sequence[str],
    ) -> list[list[Any]]:
        """Rows (``names``, converted as the ORM would) whose ``key`` is among ``values``.

        One ``SELECT`` on a Django cursor; the single-key statement is built once per
        connection, which is what keeps a read cheaper than the ORM's query compiler.
        """
        bound = self._bound(connection)
        if len(values) == 1:
            sql = bound.statement(("select", names, key), _select_one_sql(names, key))
        else:
            sql = _select_one_sql(names, key, len(values))(bound)
        params = [bound.prepare(key, value) for value in values]
        read = bound.reader(names)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [read(row) for row in cursor.fetchall()]

    def _delete_by(self, key: str, value: str) -> None:
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            sql = (
                f"DELETE FROM {self._table(connection)} WHERE {self._column(connection, key)} = %s"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [self._db_value(connection, key, value)])

    def _delete_done_before(
        self, cutoff: datetime, batch_size: int | None, date_field: str = "date_done"
    ) -> int:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        alias = self._write_alias()
        total = 0
        with translate_errors(alias):
            connection = connections[alias]
            if batch_size is None:
                batch_size = _expiry_batch_setting()
            if batch_size is None:
                batch_size = self.expiry_batch_sizes.get(connection.vendor)
            cutoff_value = self._db_value(connection, date_field, cutoff)
            if batch_size is None:
                # One statement: the server deletes, the client holds nothing whatever the
                # backlog, and on MVCC databases no reader or writer of other rows waits.
                sql = self._bound(connection).statement(
                    ("delete_before", date_field),
                    lambda b: f"DELETE FROM {b.table} WHERE {b.columns[date_field]} < %s",
                )
                with connection.cursor() as cursor:
                    cursor.execute(sql, [cutoff_value])
                    return int(cursor.rowcount)
            if self._family(connection) == _PORTABLE:
                return self._portable_delete_done_before(alias, cutoff, batch_size, date_field)
            if connection.vendor == "sqlite":
                return self._delete_by_date_ranges(connection, cutoff_value, batch_size, date_field)
            sql = self._delete_batch_sql(connection, date_field)
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

    def _delete_by_date_ranges(
        self, connection: BaseDatabaseWrapper, cutoff: Any, batch_size: int, date_field: str
    ) -> int:
        """Batches as ranges of the date index: find where the batch ends, delete below it.

        On SQLite this costs what one ``DELETE`` costs plus one commit per batch, where the
        ``IN (subquery)`` form first materialises every batch's ids (a third slower at 50,000
        rows). A batch whose rows all share one date falls back to that form, so no statement
        ever deletes more than ``batch_size`` rows.
        """
        bound = self._bound(connection)
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
                    cursor.execute(
                        self._delete_batch_sql(connection, date_field), [cutoff, batch_size]
                    )
                    deleted = int(cursor.rowcount)
                total += deleted

    def _delete_batch_sql(self, connection: BaseDatabaseWrapper, date_field: str) -> str:
        table = self._table(connection)
        date_done = self._column(connection, date_field)
        if self._family(connection) == _DUPLICATE_KEY:
            # MySQL refuses LIMIT inside an IN (subquery) on the table being deleted from,
            # but takes LIMIT on the DELETE itself.
            return f"DELETE FROM {table} WHERE {date_done} < %s LIMIT %s"
        pk = connection.ops.quote_name(self.model._meta.pk.column)
        return (
            f"DELETE FROM {table} WHERE {pk} IN "
            f"(SELECT {pk} FROM {table} WHERE {date_done} < %s LIMIT %s)"
        )

    def _portable_delete_done_before(
        self, alias: str, cutoff: datetime, batch_size: int, date_field: str
    ) -> int:
        total = 0
        manager = self._manager(alias)
        while True:
            batch = manager.filter(**{f"{date_field}__lt": cutoff}).values("pk")[:batch_size]
            deleted, _ = manager.filter(pk__in=batch).delete()
            total += int(deleted)
            if deleted < batch_size:
                return total


#: Rows per ``DELETE`` of expiry on every database, overriding ``expiry_batch_sizes``: for
#: servers where one big ``DELETE`` fails (a ``statement_timeout``, Galera's or Group
#: Replication's transaction size limits) or lags the replicas too long.
EXPIRY_BATCH_SETTING = "DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE"


def _expiry_batch_setting() -> int | None:
    value = getattr(settings, EXPIRY_BATCH_SETTING, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(
            f"{EXPIRY_BATCH_SETTING} must be a whole number of rows >= 1 (or None for the "
            f"default steps), got {value!r}"
        )
    return value


def _in_callers_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether the caller holds an open transaction (not just a test case's wrapping one).

    Django's ``TestCase`` (and pytest-django's ``django_db``) wrap each test in atomic blocks
    marked ``_from_testcase``; those roll back, never commit, so there is no later commit for
    the workers to wait for and writing inside them is what a test expects.
    """
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@contextlib.contextmanager
def _write_transaction(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """A short transaction that is about to write.

    Outside any atomic block (in autocommit), the transaction is opened and closed with plain
    statements on the cursor rather than by ``transaction.atomic``, which switches the
    connection's autocommit off and on again: on MySQL/MariaDB each switch is a round trip of
    its own (``SET autocommit``), a third of a chord part's. On SQLite it starts with
    ``BEGIN IMMEDIATE``, taking the write lock up front: a deferred transaction that reads
    before it writes can be refused at once with "database is locked" when another writer
    commits in between (SQLite's deadlock avoidance skips the busy timeout), which concurrent
    chord parts hit.
    """
    begin = {"sqlite": "BEGIN IMMEDIATE", "mysql": "START TRANSACTION"}.get(connection.vendor)
    if begin is None or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic(using=connection.alias):
            yield
        return
    with connection.cursor() as cursor:
        cursor.execute(begin)
        try:
            yield
            cursor.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (or was interrupted): Django believes the
            # connection is in autocommit, so no transaction may stay open on it. A ROLLBACK
            # that fails too (a lost connection) leaves the original error to report.
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise


def _model_field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):  # pragma: no cover - our models have no relations
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def _aware(value: datetime | None) -> datetime | None:
    if value is None or django_timezone.is_aware(value):
        return value
    # USE_TZ = False: the database holds naive local times (TIME_ZONE).
    return django_timezone.make_aware(value, django_timezone.get_default_timezone())


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=64)
def _blocking(status: str) -> tuple[str, ...]:
    """The stored states that ``status`` may not replace, in a stable order (for the SQL)."""
    return tuple(sorted(states.blocking_states(status)))


#: A state name safe to write into SQL as a literal (Celery's are upper-case words).
_STATE_LITERAL = re.compile(r"[A-Z][A-Z_]{0,49}")


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _select_one_sql(
    names: tuple[str, ...], key: str, count: int = 1
) -> Callable[[BoundTable], str]:
    """Builds ``SELECT names FROM table WHERE key = %s`` (or ``IN`` ``count`` values)."""

    def build(bound: BoundTable) -> str:
        columns = ", ".join(bound.columns[name] for name in names)
        condition = "= %s" if count == 1 else f"IN ({_placeholders(count)})"
        return f"SELECT {columns} FROM {bound.table} WHERE {bound.columns[key]} {condition}"

    return build


class DjangoTaskRepository(_DjangoRepository):
    """``TaskRepository`` over ``django_celery_results_taskresult``.

    ``store`` is one statement on PostgreSQL, SQLite, MySQL and MariaDB: a conditional upsert
    that applies ``states.blocking_states`` inside the database.

    Args:
        using: the database alias; None sends writes to ``router.db_for_write(TaskResult)``
            and reads to ``router.db_for_read(TaskResult)``, asked on every call.
    """

    model = TaskResult

    #: Ids per ``SELECT`` in ``get_many`` (lowered to the database's parameter limit, e.g.
    #: SQLite's 999, when that is smaller).
    get_many_chunk_size: ClassVar[int] = 500

    @property
    def limits(self) -> FieldLimits:
        """The widths of the model's columns (``DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH``)."""
        return _task_limits()

    def store(self, record: TaskRecord) -> bool:
        """Write ``record`` unless the stored status blocks it; return whether it was written."""
        alias = self._write_alias()
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            if self._family(connection) == _PORTABLE:
                values = self._record_values(connection, record)
                return self._portable_store(connection, values, _blocking(record.status))
            with connection.cursor() as cursor:
                return self._store_on(connection, cursor, record)

    def _record_values(self, connection: BaseDatabaseWrapper, record: TaskRecord) -> list[Any]:
        """The parameters of ``record``'s row, in ``TASK_FIELDS`` order."""
        now = _now()
        values = [getattr(record, name) for name in TASK_FIELDS]
        # The table's date columns are NOT NULL; a record that was not dated by the use case
        # gets the moment it is stored (what Django's auto_now / auto_now_add would do).
        values[_DATE_CREATED] = values[_DATE_CREATED] or now
        values[_DATE_DONE] = values[_DATE_DONE] or now
        return self._bound(connection).prepare_all(TASK_FIELDS, values)

    def upsert(self, connection: BaseDatabaseWrapper, record: TaskRecord) -> tuple[str, list[Any]]:
        """The conditional upsert of ``record`` on ``connection``'s vendor: (SQL, parameters).

        Only for the ON CONFLICT and ON DUPLICATE KEY families; ``_store_on`` runs it and reads
        whether it wrote.
        """
        bound = self._bound(connection)
        values = self._record_values(connection, record)
        blocking = [bound.prepare("status", s) for s in _blocking(record.status)]
        # Celery's own state names (all the policy ever blocks on) go into the SQL as literals:
        # fewer parameters to bind, and the MySQL statement repeats the list 14 times.
        if all(_STATE_LITERAL.fullmatch(state) for state in blocking):
            in_list, in_params = ", ".join(f"'{state}'" for state in blocking), []
        else:  # pragma: no cover - a policy naming a state outside Celery's upper-case names
            in_list, in_params = _placeholders(len(blocking)), blocking
        family = self._family(connection)
        if family == _DUPLICATE_KEY:
            style = _mysql_new_row_style(connection)
            sql = bound.statement(
                ("task_upsert", family, in_list, style),
                lambda b: _task_upsert_duplicate_key(
                    b.table,
                    b.pk,
                    tuple(b.columns[name] for name in TASK_FIELDS),
                    in_list,
                    style,
                ),
            )
            # The condition is repeated in each assignment (id plus 13 columns).
            return sql, values + in_params * (len(TASK_FIELDS) - 1)
        sql = bound.statement(
            ("task_upsert", family, in_list),
            lambda b: _task_upsert_on_conflict(
                b.table, tuple(b.columns[name] for name in TASK_FIELDS), in_list
            ),
        )
        return sql, values + in_params

    def _store_on(self, connection: BaseDatabaseWrapper, cursor: Any, record: TaskRecord) -> bool:
        """Run ``record``'s upsert on ``cursor`` (in the caller's transaction, if any)."""
        sql, params = self.upsert(connection, record)
        cursor.execute(sql, params)
        if self._family(connection) == _DUPLICATE_KEY:
            # LAST_INSERT_ID(0) in the blocked branch: the OK packet says 0; an insert or a
            # written update reports the row's id.
            return bool(cursor.lastrowid)
        return bool(cursor.rowcount == 1)

    def _portable_store(
        self, connection: BaseDatabaseWrapper, values: list[Any], blocking: Sequence[str]
    ) -> bool:
        # Standard SQL: update if allowed, tell "blocked" from "missing", insert if missing.
        # A concurrent insert of the same id makes the INSERT fail; then the UPDATE decides.
        table = self._table(connection)
        columns = [self._column(connection, name) for name in TASK_FIELDS]
        by_name = dict(zip(TASK_FIELDS, values, strict=True))
        status = self._column(connection, "status")
        task_id = self._column(connection, "task_id")
        assignments: list[str] = []
        update_params: list[Any] = []
        for name, column in zip(TASK_FIELDS, columns, strict=True):
            if name in ("task_id", "date_created"):
                continue
            if name == "date_started":
                assignments.append(f"{column} = COALESCE(%s, {column})")
            else:
                assignments.append(f"{column} = %s")
            update_params.append(by_name[name])
        blocking_values = [self._db_value(connection, "status", s) for s in blocking]
        update_sql = (
            f"UPDATE {table} SET {', '.join(assignments)} "
            f"WHERE {task_id} = %s AND {status} NOT IN ({_placeholders(len(blocking))})"
        )
        update_params += [by_name["task_id"], *blocking_values]
        insert_sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(len(columns))})"
        )
        exists_sql = f"SELECT 1 FROM {table} WHERE {task_id} = %s"
        from django.db import IntegrityError

        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(update_sql, update_params)
            if cursor.rowcount:
                return True
            cursor.execute(exists_sql, [by_name["task_id"]])
            if cursor.fetchone() is not None:
                return False
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute(insert_sql, values)
            except IntegrityError:
                cursor.execute(update_sql, update_params)
                return bool(cursor.rowcount)
            return True

    def get(self, task_id: str) -> TaskRecord | None:
        """The stored record of ``task_id`` (one ``SELECT``), or None."""
        alias = self._read_alias()
        with translate_errors(alias):
            rows = self._select(connections[alias], TASK_FIELDS, "task_id", [task_id])
        return _task_record(rows[0]) if rows else None

    def get_many(self, task_ids: Iterable[str]) -> Mapping[str, TaskRecord]:
        """The stored records among ``task_ids``: one ``SELECT`` per chunk of ids."""
        wanted = list(dict.fromkeys(task_ids))
        if not wanted:
            return {}
        alias = self._read_alias()
        found: dict[str, TaskRecord] = {}
        with translate_errors(alias):
            connection = connections[alias]
            # Stored ids had their NULs replaced on some vendors: look up what was stored,
            # answer under the id that was asked for.
            asked = {self._text(connection, task_id): task_id for task_id in wanted}
            keys = list(asked)
            size = self.get_many_chunk_size
            max_params = connection.features.max_query_params
            if max_params:
                size = max(1, min(size, max_params))
            for start in range(0, len(keys), size):
                chunk = keys[start : start + size]
                for row in self._select(connection, TASK_FIELDS, "task_id", chunk):
                    record = _task_record(row)
                    found[asked.get(record.task_id, record.task_id)] = record
        return found

    def delete(self, task_id: str) -> None:
        """Remove the record (one ``DELETE``); an unknown id is not an error."""
        self._delete_by("task_id", task_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove records with ``date_done < cutoff``, ``batch_size`` rows per ``DELETE``.

        ``batch_size=None``: ``expiry_batch_sizes`` for the vendor, else one ``DELETE``.
        """
        return self._delete_done_before(cutoff, batch_size)


class DjangoGroupRepository(_DjangoRepository):
    """``GroupRepository`` over ``django_celery_results_groupresult``; ``save`` is one upsert.

    Args:
        using: the database alias; None follows the routers (see ``DjangoTaskRepository``).
    """

    model = GroupResult

    def save(self, record: GroupRecord) -> None:
        """Insert or replace the group in one statement, keeping the stored ``date_created``."""
        alias = self._write_alias()
        now = _now()
        values_by_name = {name: getattr(record, name) for name in GROUP_FIELDS}
        values_by_name["date_created"] = record.date_created or now
        values_by_name["date_done"] = record.date_done or now
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            values = [
                self._db_value(connection, name, values_by_name[name]) for name in GROUP_FIELDS
            ]
            _upsert(
                self,
                connection,
                GROUP_FIELDS,
                values,
                key="group_id",
                replace=("content_type", "content_encoding", "result", "date_done"),
            )

    def get(self, group_id: str) -> GroupRecord | None:
        """The stored group (one ``SELECT``), or None."""
        alias = self._read_alias()
        with translate_errors(alias):
            rows = self._select(connections[alias], GROUP_FIELDS, "group_id", [group_id])
        if not rows:
            return None
        values = dict(zip(GROUP_FIELDS, rows[0], strict=True))
        values["date_created"] = _aware(values["date_created"])
        values["date_done"] = _aware(values["date_done"])
        return GroupRecord(**values)

    def delete(self, group_id: str) -> None:
        """Remove the group (one ``DELETE``); an unknown id is not an error."""
        self._delete_by("group_id", group_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove groups with ``date_done < cutoff`` (batches as for tasks)."""
        return self._delete_done_before(cutoff, batch_size)


class DjangoChordCounterRepository(_DjangoRepository):
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
            counter = attrs.evolve(counter, date_created=_now())
        alias = self._write_alias()
        connection = connections[alias]
        if _in_callers_transaction(connection) and connection.vendor != "sqlite":
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
            values = self._db_values(connection, CHORD_FIELDS, counter)
            _upsert(
                self,
                connection,
                CHORD_FIELDS,
                values,
                key="group_id",
                replace=CHORD_FIELDS[1:],
            )

    def decrement(self, group_id: str) -> int | None:
        """Lower the count by one, never below zero, atomically; the count after, or None.

        One statement; a second ``SELECT`` only when no row was lowered, to tell a missing
        counter (None) from one already at zero.
        """
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            key = self._db_value(connection, "group_id", group_id)
            with connection.cursor() as cursor:
                if self._needs_transaction_to_decrement(connection):
                    with _write_transaction(connection):
                        remaining = self._decrement_in(connection, cursor, key)
                else:
                    remaining = self._decrement_in(connection, cursor, key)
                if remaining is not None:
                    return remaining
                # Nothing lowered: missing, or already at zero (a redelivered header task).
                return self._count_of(connection, cursor, key)

    def _needs_transaction_to_decrement(self, connection: BaseDatabaseWrapper) -> bool:
        # Without RETURNING (another vendor, SQLite < 3.35) the new value is read by a second
        # statement, which must see the row as the UPDATE left it.
        family = self._family(connection)
        return family == _PORTABLE or (family == _ON_CONFLICT and not self._returning(connection))

    def _count_of(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> int | None:
        sql = self._bound(connection).statement(
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
        alias = self._read_alias()
        with translate_errors(alias):
            rows = self._select(connections[alias], CHORD_FIELDS, "group_id", [group_id])
        if not rows:
            return None
        return _chord_counter(rows[0])

    def claim_callback(self, group_id: str, now: datetime, stale_before: datetime) -> bool:
        """Take on sending the callback (one conditional ``UPDATE``); whether this call won.

        The row is claimed only while its count is zero, nothing was sent, and nobody holds a
        claim younger than ``stale_before`` but this very claim (``now``, when a retry repeats
        it): the database's row lock makes the check and the write one step, so of concurrent
        claimants exactly one sees a matched row (Django's MySQL connections report found
        rows, so a repeated claim that changes no value still counts).
        """
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self._bound(connection)
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
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self._bound(connection)
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
        alias = self._read_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self._bound(connection)
            sql = bound.statement("awaiting_callback", _awaiting_callback_sql)
            stale = bound.prepare("date_claimed", stale_before)
            read = bound.reader(CHORD_FIELDS)
            with connection.cursor() as cursor:
                cursor.execute(sql, [stale, int(limit)])
                return [_chord_counter(read(row)) for row in cursor.fetchall()]

    def delete(self, group_id: str) -> None:
        """Remove the counter and its counted parts; an unknown id is not an error."""
        self._delete_by("group_id", group_id)
        self._parts.clear(group_id)

    def count_part(self, group_id: str, task_id: str) -> PartCount:
        """Count header task ``task_id`` once: record it and decrement, as one atomic step.

        PostgreSQL: one statement (the part's ``INSERT ... ON CONFLICT DO NOTHING`` in a CTE
        that the counter's ``UPDATE`` depends on). SQLite, MySQL and MariaDB: the same two
        statements in one short transaction. A second ``SELECT`` only when nothing was counted
        (a duplicate, or an unknown chord).
        """
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            key = self._db_value(connection, "group_id", group_id)
            with connection.cursor() as cursor:
                if self._counts_in_one_statement(connection):
                    sql, params = self.counting_cte(connection, group_id, task_id)
                    cursor.execute(
                        f"{sql} SELECT {self._column(connection, 'count')} FROM counted", params
                    )
                    rows = cursor.fetchall()
                    if rows:
                        return PartCount(remaining=int(rows[0][0]), counted=True)
                else:
                    with _write_transaction(connection):
                        remaining = self._count_in(connection, cursor, group_id, task_id)
                    if remaining is not None:
                        return PartCount(remaining=remaining, counted=True)
                return self._not_counted(connection, cursor, key)

    def _counts_in_one_statement(self, connection: BaseDatabaseWrapper) -> bool:
        # Data-modifying CTEs: PostgreSQL only (SQLite and MySQL allow SELECT in WITH only).
        return connection.vendor == "postgresql" and self._family(connection) == _ON_CONFLICT

    def counting_cte(
        self, connection: BaseDatabaseWrapper, group_id: str, task_id: str, *, prefix: str = ""
    ) -> tuple[str, list[Any]]:
        """``WITH [prefix] part AS (...), counted AS (...)``: count the part on PostgreSQL.

        ``counted`` holds the count after the decrement, or no row when nothing was counted;
        the caller appends the final ``SELECT`` (and may put its own CTEs in ``prefix``).
        """
        bound = self._bound(connection)
        part_insert, part_params = self._parts.insert_sql(connection, group_id, task_id, bound)

        def build(b: BoundTable) -> str:
            table, count, group = b.table, b.columns["count"], b.columns["group_id"]
            return (
                f"part AS ({part_insert} RETURNING 1), "
                f"counted AS (UPDATE {table} SET {count} = {count} - 1 "
                f"WHERE {group} = %s AND {count} > 0 AND EXISTS (SELECT 1 FROM part) "
                f"RETURNING {count})"
            )

        body = bound.statement("counting_cte", build)
        key = bound.prepare("group_id", group_id)
        return f"WITH {prefix}{body}", [*part_params, key]

    def _count_in(
        self, connection: BaseDatabaseWrapper, cursor: Any, group_id: str, task_id: str
    ) -> int | None:
        """Record the part and decrement on ``cursor``, inside the caller's transaction.

        The count after the decrement, or None when nothing was counted.
        """
        parts = self._parts
        key = self._db_value(connection, "group_id", group_id)
        if self._family(connection) == _DUPLICATE_KEY:
            # InnoDB: the decrement comes first, so its exclusive lock on the counter's row
            # queues every report of the chord before any touches the parts' unique index
            # (concurrent inserts of one part id deadlock there otherwise, and an insert
            # that reads the counter takes a shared lock on it under REPEATABLE READ).
            remaining = self._decrement_in(connection, cursor, key)
            if remaining is None:
                return None  # unknown or finished chord: nothing recorded
            if not parts.record(connection, cursor, group_id, task_id, self._bound(connection)):
                # Already counted: undo the decrement, unseen (the row is still locked by us).
                self._increment_in(connection, cursor, key)
                return None
            return remaining
        if not parts.record(connection, cursor, group_id, task_id, self._bound(connection)):
            return None
        remaining = self._decrement_in(connection, cursor, key)
        if remaining is None and not parts.records_only_while_counting(connection):
            # The part was recorded for a chord that counts nothing more (finished, unknown):
            # take it back, so such reports leave no row behind.
            parts.forget(connection, cursor, group_id, task_id)
        return remaining

    def _increment_in(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> None:
        sql = self._bound(connection).statement(
            "increment",
            lambda b: (
                f"UPDATE {b.table} SET {b.columns['count']} = {b.columns['count']} + 1 "
                f"WHERE {b.columns['group_id']} = %s"
            ),
        )
        cursor.execute(sql, [key])

    def _not_counted(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> PartCount:
        """The answer when a report counted nothing: a duplicate, a finished or unknown chord."""
        return PartCount(remaining=self._count_of(connection, cursor, key), counted=False)

    def _decrement_in(self, connection: BaseDatabaseWrapper, cursor: Any, key: Any) -> int | None:
        """Lower the count on ``cursor`` (inside the caller's transaction); None if nothing was."""
        bound = self._bound(connection)
        family = self._family(connection)
        returning = family == _ON_CONFLICT and self._returning(connection)

        def build(b: BoundTable) -> str:
            table, count, group = b.table, b.columns["count"], b.columns["group_id"]
            where = f"WHERE {group} = %s AND {count} > 0"
            if family == _DUPLICATE_KEY:
                return f"UPDATE {table} SET {count} = LAST_INSERT_ID({count} - 1) {where}"
            if returning:
                return f"UPDATE {table} SET {count} = {count} - 1 {where} RETURNING {count}"
            return f"UPDATE {table} SET {count} = {count} - 1 {where}"

        cursor.execute(bound.statement(("decrement", family, returning), build), [key])
        if family == _DUPLICATE_KEY:
            return int(cursor.lastrowid) if cursor.rowcount else None
        if returning:
            rows = cursor.fetchall()
            return int(rows[0][0]) if rows else None
        # No RETURNING: the caller holds a transaction in which the UPDATE took the row's
        # write lock before this SELECT reads the value it wrote.
        return self._count_of(connection, cursor, key) if cursor.rowcount else None

    def clear_parts(self, group_id: str) -> None:
        """Forget which header tasks were counted (one ``DELETE``); the counter stays."""
        self._parts.clear(group_id)

    def delete_created_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove counters created before ``cutoff``, and parts counted before it, in batches.

        Counters without a date (created by the old package after a downgrade) are dated now
        first, so they expire one expiry period later instead of never.
        """
        alias = self._write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            table = self._table(connection)
            date_created = self._column(connection, "date_created")
            group = self._column(connection, "group_id")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET {date_created} = %s WHERE {date_created} IS NULL",
                    [self._db_value(connection, "date_created", _now())],
                )
                # The parts of the counters about to go, however recently they were counted.
                parts = _ChordPartTable(self.using)
                cursor.execute(
                    f"DELETE FROM {parts._table(connection)} WHERE "
                    f"{parts._column(connection, 'group_id')} IN "
                    f"(SELECT {group} FROM {table} WHERE {date_created} < %s)",
                    [self._db_value(connection, "date_created", cutoff)],
                )
        # Parts of chords that never had a counter here (reported after cleanup, or unknown).
        self._parts.delete_done_before(cutoff, batch_size)
        return self._delete_done_before(cutoff, batch_size, date_field="date_created")

    @property
    def _parts(self) -> _ChordPartTable:
        return _ChordPartTable(self.using)


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
        alias = self.tasks._write_alias()
        chords, parts = self.chords, self.chords._parts
        shared = chords._write_alias() == alias and parts._write_alias() == alias
        if not shared or self.tasks._family(connections[alias]) == _PORTABLE:
            written = self.tasks.store(record)
            return written, chords.count_part(group_id, record.task_id)
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            key = chords._db_value(connection, "group_id", group_id)
            with connection.cursor() as cursor:
                if chords._counts_in_one_statement(connection):
                    upsert, upsert_params = self.tasks.upsert(connection, record)
                    cte, cte_params = chords.counting_cte(
                        connection,
                        group_id,
                        record.task_id,
                        prefix=f"stored AS ({upsert} RETURNING 1), ",
                    )
                    count = chords._column(connection, "count")
                    cursor.execute(
                        f"{cte} SELECT (SELECT COUNT(*) FROM stored), "
                        f"(SELECT {count} FROM counted)",
                        [*upsert_params, *cte_params],
                    )
                    stored, remaining = cursor.fetchone()
                    written = bool(stored)
                else:
                    with _write_transaction(connection):
                        written = self.tasks._store_on(connection, cursor, record)
                        remaining = chords._count_in(connection, cursor, group_id, record.task_id)
                if remaining is not None:
                    return written, PartCount(remaining=int(remaining), counted=True)
                return written, chords._not_counted(connection, cursor, key)


class _ChordPartTable(_DjangoRepository):
    """The counted header tasks of each chord (``django_celery_results_chordpart``)."""

    model = ChordPart

    _NAMES: ClassVar[tuple[str, ...]] = ("group_id", "task_id", "date_done")

    def _params(self, connection: BaseDatabaseWrapper, group_id: str, task_id: str) -> list[Any]:
        return self._bound(connection).prepare_all(self._NAMES, [group_id, task_id, _now()])

    def _insert(self, bound: BoundTable) -> str:
        columns = ", ".join(bound.columns[name] for name in self._NAMES)
        return f"INSERT INTO {bound.table} ({columns}) VALUES ({_placeholders(len(self._NAMES))})"

    def _insert_if_counting(self, bound: BoundTable, counter: BoundTable) -> str:
        # Only while the chord's counter is stored and above zero: a duplicate report of a
        # finished chord, or one of an unknown chord, leaves no row behind.
        columns = ", ".join(bound.columns[name] for name in self._NAMES)
        return (
            f"INSERT INTO {bound.table} ({columns}) "
            f"SELECT {_placeholders(len(self._NAMES))} WHERE EXISTS (SELECT 1 FROM "
            f"{counter.table} WHERE {counter.columns['group_id']} = %s "
            f"AND {counter.columns['count']} > 0)"
        )

    def insert_sql(
        self, connection: BaseDatabaseWrapper, group_id: str, task_id: str, counter: BoundTable
    ) -> tuple[str, list[Any]]:
        """An ``INSERT`` of the part while ``counter`` counts the chord, once (ON CONFLICT)."""

        def build(b: BoundTable) -> str:
            unique = f"{b.columns['group_id']}, {b.columns['task_id']}"
            return f"{self._insert_if_counting(b, counter)} ON CONFLICT ({unique}) DO NOTHING"

        sql = self._bound(connection).statement(("insert_on_conflict", counter.table), build)
        params = self._params(connection, group_id, task_id)
        return sql, [*params, counter.prepare("group_id", group_id)]

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
        family = self._family(connection)
        if family == _ON_CONFLICT:
            sql, params = self.insert_sql(connection, group_id, task_id, counter)
            cursor.execute(sql, params)
            return bool(cursor.rowcount)
        bound = self._bound(connection)
        params = self._params(connection, group_id, task_id)
        if family == _DUPLICATE_KEY:
            # FOUND_ROWS makes the affected-row count ambiguous; LAST_INSERT_ID is the new id
            # on an insert and 0 when the part was already counted. No ``WHERE EXISTS`` on the
            # counter here: InnoDB would take a shared lock on the counter's row under
            # REPEATABLE READ, and two parts then deadlock on the decrement's exclusive lock;
            # ``_count_in`` removes the row again when the decrement counts nothing.
            sql = bound.statement(
                "insert_duplicate_key",
                lambda b: (
                    f"{self._insert(b)} ON DUPLICATE KEY UPDATE {b.pk} = LAST_INSERT_ID(0) + {b.pk}"
                ),
            )
            cursor.execute(sql, params)
            return bool(cursor.lastrowid)
        from django.db import IntegrityError

        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute(self._insert(bound), params)
        except IntegrityError:
            return False
        return True

    def records_only_while_counting(self, connection: BaseDatabaseWrapper) -> bool:
        """Whether ``record`` inserts nothing unless the counter is above zero."""
        return self._family(connection) == _ON_CONFLICT

    def forget(
        self, connection: BaseDatabaseWrapper, cursor: Any, group_id: str, task_id: str
    ) -> None:
        """Delete one recorded part on ``cursor`` (in the caller's transaction)."""
        sql = self._bound(connection).statement(
            "forget",
            lambda b: (
                f"DELETE FROM {b.table} WHERE {b.columns['group_id']} = %s "
                f"AND {b.columns['task_id']} = %s"
            ),
        )
        cursor.execute(sql, self._params(connection, group_id, task_id)[:2])

    def clear(self, group_id: str) -> None:
        """Delete the chord's parts."""
        self._delete_by("group_id", group_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Delete parts counted before ``cutoff``."""
        return self._delete_done_before(cutoff, batch_size)


def _chord_counter(row: Sequence[Any]) -> ChordCounter:
    values = dict(zip(CHORD_FIELDS, row, strict=True))
    for name in ("date_created", "date_claimed", "date_done"):
        values[name] = _aware(values[name])
    return ChordCounter(**values)


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


def _task_record(row: Sequence[Any]) -> TaskRecord:
    values = dict(zip(TASK_FIELDS, row, strict=True))
    for name in ("date_created", "date_started", "date_done"):
        values[name] = _aware(values[name])
    return TaskRecord(**values)


@functools.cache
def _task_limits() -> FieldLimits:
    # The widths are the model's, fixed when it is defined (the id width setting included):
    # worked out once per process, not on every stored result.
    def width(name: str) -> int:
        max_length = _model_field(TaskResult, name).max_length
        if max_length is None:  # pragma: no cover - every limited field is a CharField
            raise TypeError(f"TaskResult.{name} has no max_length")
        return int(max_length)

    return FieldLimits(
        id=width("task_id"),
        task_name=width("task_name"),
        periodic_task_name=width("periodic_task_name"),
        worker=width("worker"),
        status=width("status"),
        content_type=width("content_type"),
        content_encoding=width("content_encoding"),
    )


def _mysql_new_row_style(connection: BaseDatabaseWrapper) -> str:
    # MySQL 8.0.20+ deprecates VALUES(col) in favour of a row alias; MariaDB has no row alias.
    if getattr(connection, "mysql_is_mariadb", True):
        return "values"
    version: tuple[int, ...] = getattr(connection, "mysql_version", (0,))
    return "alias" if version >= (8, 0, 19) else "values"


def _task_upsert_on_conflict(table: str, columns: tuple[str, ...], blocking: str) -> str:
    by_name = dict(zip(TASK_FIELDS, columns, strict=True))
    assignments = []
    for name, column in by_name.items():
        if name in ("task_id", "date_created"):
            continue  # the key, and the creation date the first write set
        if name == "date_started":
            assignments.append(f"{column} = COALESCE(EXCLUDED.{column}, {table}.{column})")
        else:
            assignments.append(f"{column} = EXCLUDED.{column}")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(len(columns))}) "
        f"ON CONFLICT ({by_name['task_id']}) DO UPDATE SET {', '.join(assignments)} "
        f"WHERE {table}.{by_name['status']} NOT IN ({blocking})"
    )


def _task_upsert_duplicate_key(
    table: str, pk: str, columns: tuple[str, ...], blocking: str, new_row_style: str
) -> str:
    by_name = dict(zip(TASK_FIELDS, columns, strict=True))
    status = by_name["status"]
    condition = f"{status} NOT IN ({blocking})"
    alias_clause = " AS new" if new_row_style == "alias" else ""

    def new(column: str) -> str:
        return f"new.{column}" if new_row_style == "alias" else f"VALUES({column})"

    # MySQL evaluates the assignments left to right, each seeing the columns already assigned:
    # every condition must read the *stored* status, so status is assigned last. The id is
    # assigned first, only for its LAST_INSERT_ID side effect (the value never changes): the
    # row's id when written, 0 when blocked, which the client reads as ``lastrowid``.
    assignments = [f"{pk} = IF({condition}, LAST_INSERT_ID({pk}), LAST_INSERT_ID(0) + {pk})"]
    for name, column in by_name.items():
        if name in ("task_id", "date_created", "status"):
            continue
        value = new(column)
        if name == "date_started":
            value = f"COALESCE({value}, {column})"
        assignments.append(f"{column} = IF({condition}, {value}, {column})")
    assignments.append(f"{status} = IF({condition}, {new(status)}, {status})")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(len(columns))})"
        f"{alias_clause} ON DUPLICATE KEY UPDATE {', '.join(assignments)}"
    )


def _upsert(
    repository: _DjangoRepository,
    connection: BaseDatabaseWrapper,
    names: Sequence[str],
    values: list[Any],
    *,
    key: str,
    replace: Sequence[str],
) -> None:
    """Insert a row or replace the ``replace`` columns of the one with the same ``key``."""
    table = repository._table(connection)
    columns = [repository._column(connection, name) for name in names]
    family = repository._family(connection)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(len(columns))})"
    if family == _PORTABLE:
        _portable_upsert(repository, connection, names, values, key=key, replace=replace)
        return
    replaced = [repository._column(connection, name) for name in replace]
    if family == _DUPLICATE_KEY:
        if _mysql_new_row_style(connection) == "alias":
            insert += " AS new"
            assignments = [f"{c} = new.{c}" for c in replaced]
        else:
            assignments = [f"{c} = VALUES({c})" for c in replaced]
        sql = f"{insert} ON DUPLICATE KEY UPDATE {', '.join(assignments)}"
    else:
        assignments = [f"{c} = EXCLUDED.{c}" for c in replaced]
        sql = (
            f"{insert} ON CONFLICT ({repository._column(connection, key)}) "
            f"DO UPDATE SET {', '.join(assignments)}"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _portable_upsert(
    repository: _DjangoRepository,
    connection: BaseDatabaseWrapper,
    names: Sequence[str],
    values: list[Any],
    *,
    key: str,
    replace: Sequence[str],
) -> None:
    from django.db import IntegrityError

    table = repository._table(connection)
    by_name = dict(zip(names, values, strict=True))
    key_column = repository._column(connection, key)
    assignments = ", ".join(f"{repository._column(connection, n)} = %s" for n in replace)
    update_sql = f"UPDATE {table} SET {assignments} WHERE {key_column} = %s"
    update_params = [by_name[n] for n in replace] + [by_name[key]]
    columns = ", ".join(repository._column(connection, n) for n in names)
    insert_sql = f"INSERT INTO {table} ({columns}) VALUES ({_placeholders(len(names))})"
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(update_sql, update_params)
        if cursor.rowcount:
            return
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute(insert_sql, values)
        except IntegrityError:
            cursor.execute(update_sql, update_params)
