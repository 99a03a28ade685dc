"""``DjangoTaskRepository``: task records over ``django_celery_results_taskresult``.

``store`` is one statement on PostgreSQL, SQLite, MySQL and MariaDB: a conditional upsert (the
dialect's ``task_upsert``) that applies ``states.blocking_states`` inside the database, so
concurrent workers on several hosts cannot interleave between a read and a write. Other
vendors run the portable update-then-insert in a short transaction. Rows become
``TaskRecord`` and back; model instances never leave the adapter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ...domain import states
from ...domain.records import FieldLimits, TaskRecord
from .dialects import TASK_KEPT_ON_UPDATE, PortableDialect, placeholders
from .errors import translate_errors
from .expiry import delete_before
from .models import TaskResult
from .tables import DjangoTable, model_field, record_fields, to_record, utc_now

__all__ = ["TASK_FIELDS", "DjangoTaskRepository"]

#: ``TaskRecord`` attributes, which are also ``TaskResult`` field names, in column order.
TASK_FIELDS: tuple[str, ...] = record_fields(TaskRecord)
_DATE_CREATED = TASK_FIELDS.index("date_created")
_DATE_DONE = TASK_FIELDS.index("date_done")

#: A state name safe to write into SQL as a literal (Celery's are upper-case words).
_STATE_LITERAL = re.compile(r"[A-Z][A-Z_]{0,49}")


class DjangoTaskRepository(DjangoTable):
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
        alias = self.write_alias()
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            dialect = self.dialect(connection)
            if isinstance(dialect, PortableDialect):
                return self._store_portably(connection, dialect, record)
            with connection.cursor() as cursor:
                return self.store_on(connection, cursor, record)

    def _record_values(self, connection: BaseDatabaseWrapper, record: TaskRecord) -> list[Any]:
        """The parameters of ``record``'s row, in ``TASK_FIELDS`` order."""
        now = utc_now()
        values = [getattr(record, name) for name in TASK_FIELDS]
        # The table's date columns are NOT NULL; a record that was not dated by the use case
        # gets the moment it is stored (what Django's auto_now / auto_now_add would do).
        values[_DATE_CREATED] = values[_DATE_CREATED] or now
        values[_DATE_DONE] = values[_DATE_DONE] or now
        return self.bound(connection).prepare_all(TASK_FIELDS, values)

    def upsert(self, connection: BaseDatabaseWrapper, record: TaskRecord) -> tuple[str, list[Any]]:
        """The conditional upsert of ``record`` on ``connection``'s vendor: (SQL, parameters).

        Only for dialects that upsert (``dialect.upserts``); ``store_on`` runs it and reads
        whether it wrote.
        """
        bound = self.bound(connection)
        values = self._record_values(connection, record)
        blocking = [bound.prepare("status", s) for s in _blocking(record.status)]
        # Celery's own state names (all the policy ever blocks on) go into the SQL as literals:
        # fewer parameters to bind, and the MySQL statement repeats the list 14 times.
        if all(_STATE_LITERAL.fullmatch(state) for state in blocking):
            in_list, in_params = ", ".join(f"'{state}'" for state in blocking), []
        else:  # pragma: no cover - a policy naming a state outside Celery's upper-case names
            in_list, in_params = placeholders(len(blocking)), blocking
        dialect = self.dialect(connection)
        sql = bound.statement(
            ("task_upsert", dialect, in_list),
            lambda b: dialect.task_upsert(b, TASK_FIELDS, in_list),
        )
        if dialect.repeats_task_condition:  # in each assignment (id plus 13 columns)
            return sql, values + in_params * (len(TASK_FIELDS) - 1)
        return sql, values + in_params

    def store_on(self, connection: BaseDatabaseWrapper, cursor: Any, record: TaskRecord) -> bool:
        """Run ``record``'s upsert on ``cursor`` (in the caller's transaction, if any)."""
        sql, params = self.upsert(connection, record)
        cursor.execute(sql, params)
        return self.dialect(connection).upsert_wrote(cursor)

    def _store_portably(
        self, connection: BaseDatabaseWrapper, dialect: PortableDialect, record: TaskRecord
    ) -> bool:
        # Standard SQL: update if allowed, tell "blocked" from "missing", insert if missing.
        # A concurrent insert of the same id makes the INSERT fail; then the UPDATE decides.
        bound = self.bound(connection)
        values = self._record_values(connection, record)
        blocking = _blocking(record.status)
        by_name = dict(zip(TASK_FIELDS, values, strict=True))
        update_params = [by_name[name] for name in TASK_FIELDS if name not in TASK_KEPT_ON_UPDATE]
        update_params += [by_name["task_id"], *(bound.prepare("status", s) for s in blocking)]
        update_sql = dialect.task_update(bound, TASK_FIELDS, len(blocking))
        exists_sql = f"SELECT 1 FROM {bound.table} WHERE {bound.columns['task_id']} = %s"
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(update_sql, update_params)
            if cursor.rowcount:
                return True
            cursor.execute(exists_sql, [by_name["task_id"]])
            if cursor.fetchone() is not None:
                return False
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute(dialect.insert(bound, TASK_FIELDS), values)
            except IntegrityError:
                cursor.execute(update_sql, update_params)
                return bool(cursor.rowcount)
            return True

    def get(self, task_id: str) -> TaskRecord | None:
        """The stored record of ``task_id`` (one ``SELECT``), or None."""
        row = self.get_row(TASK_FIELDS, "task_id", task_id)
        return None if row is None else to_record(TaskRecord, TASK_FIELDS, row)

    def get_many(self, task_ids: Iterable[str]) -> Mapping[str, TaskRecord]:
        """The stored records among ``task_ids``: one ``SELECT`` per chunk of ids."""
        wanted = list(dict.fromkeys(task_ids))
        if not wanted:
            return {}
        alias = self.read_alias()
        found: dict[str, TaskRecord] = {}
        with translate_errors(alias):
            connection = connections[alias]
            # Stored ids had their NULs replaced on some vendors: look up what was stored,
            # answer under the id that was asked for.
            asked = {self.text(connection, task_id): task_id for task_id in wanted}
            keys = list(asked)
            size = self.get_many_chunk_size
            max_params = connection.features.max_query_params
            if max_params:
                size = max(1, min(size, max_params))
            for start in range(0, len(keys), size):
                chunk = keys[start : start + size]
                for row in self.select(connection, TASK_FIELDS, "task_id", chunk):
                    record = to_record(TaskRecord, TASK_FIELDS, row)
                    found[asked.get(record.task_id, record.task_id)] = record
        return found

    def delete(self, task_id: str) -> None:
        """Remove the record (one ``DELETE``); an unknown id is not an error."""
        self.delete_by("task_id", task_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove records with ``date_done < cutoff``, ``batch_size`` rows per ``DELETE``.

        ``batch_size=None``: ``expiry_batch_sizes`` for the vendor, else one ``DELETE``.
        """
        return delete_before(self, cutoff, batch_size)


@functools.lru_cache(maxsize=64)
def _blocking(status: str) -> tuple[str, ...]:
    """The stored states that ``status`` may not replace, in a stable order (for the SQL)."""
    return tuple(sorted(states.blocking_states(status)))


@functools.cache
def _task_limits() -> FieldLimits:
    # The widths are the model's, fixed when it is defined (the id width setting included):
    # worked out once per process, not on every stored result.
    def width(name: str) -> int:
        max_length = model_field(TaskResult, name).max_length
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
