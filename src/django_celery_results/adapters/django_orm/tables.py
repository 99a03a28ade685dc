"""What every ORM repository does with its table: routing, dialect, reads by key, upserts.

``DjangoTable`` is the base of the task, group and chord repositories and of the chord part
table. It asks the routers for an alias on every call, picks the SQL dialect of the alias's
connection (``dialects.dialect_for``), and holds the model's ``BoundTable`` there (quoted
names, value preparers, read converters, cached statements). Reads go through one ``SELECT``
on a Django cursor, so the backend's own converters turn columns into Python values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

import attrs
from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone as django_timezone

from .bound import BoundTable, bound_table
from .dialects import FAMILIES, PortableDialect, SqlDialect, dialect_for, placeholders
from .errors import translate_errors

__all__ = ["DjangoTable", "aware", "model_field", "record_fields", "to_record", "utc_now"]

_R = TypeVar("_R")


class DjangoTable:
    """One model's table as a repository reaches it, on the alias the routers choose.

    Args:
        using: the database alias; None asks ``router.db_for_write(model)`` (and
            ``db_for_read``) on every call.
    """

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
    sql_families: ClassVar[Mapping[str, str]] = FAMILIES

    def __init__(self, using: str | None = None) -> None:
        self.using = using

    def write_alias(self) -> str:
        """The alias writes go to (asked on every call: routers may depend on the thread)."""
        return self.using or router.db_for_write(self.model)

    def read_alias(self) -> str:
        """The alias reads go to."""
        return self.using or router.db_for_read(self.model)

    def dialect(self, connection: BaseDatabaseWrapper) -> SqlDialect:
        """The SQL dialect this table speaks on ``connection``."""
        return dialect_for(connection, self.sql_families)

    def manager(self, alias: str) -> Any:
        """The model's base manager on ``alias``, unordered."""
        # ``_base_manager``: a project's custom default manager must not filter our reads.
        return self.model._base_manager.db_manager(alias).order_by()

    def bound(self, connection: BaseDatabaseWrapper) -> BoundTable:
        """The model's table on ``connection``: names, preparers, converters, cached SQL."""
        rejects_nul = connection.vendor in self.vendors_rejecting_nul
        return bound_table(self.model, connection, self.nul_replacement if rejects_nul else None)

    def text(self, connection: BaseDatabaseWrapper, value: str) -> str:
        """``value`` as it is stored on ``connection`` (NUL replaced where it is refused)."""
        if connection.vendor in self.vendors_rejecting_nul and "\x00" in value:
            return value.replace("\x00", self.nul_replacement)
        return value

    def select(
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
        bound = self.bound(connection)
        if len(values) == 1:
            sql = bound.statement(("select", names, key), _select_sql(names, key))
        else:
            sql = _select_sql(names, key, len(values))(bound)
        params = [bound.prepare(key, value) for value in values]
        read = bound.reader(names)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [read(row) for row in cursor.fetchall()]

    def get_row(self, names: tuple[str, ...], key: str, value: str) -> list[Any] | None:
        """The row (``names``) whose ``key`` is ``value``, read on the read alias; or None."""
        alias = self.read_alias()
        with translate_errors(alias):
            rows = self.select(connections[alias], names, key, [value])
        return rows[0] if rows else None

    def delete_by(self, key: str, value: str) -> None:
        """Delete the rows whose ``key`` is ``value`` (one ``DELETE``)."""
        alias = self.write_alias()
        with translate_errors(alias):
            connection = connections[alias]
            bound = self.bound(connection)
            sql = f"DELETE FROM {bound.table} WHERE {bound.columns[key]} = %s"
            with connection.cursor() as cursor:
                cursor.execute(sql, [bound.prepare(key, value)])

    def upsert_row(
        self,
        connection: BaseDatabaseWrapper,
        names: Sequence[str],
        values: list[Any],
        *,
        key: str,
        replace: Sequence[str],
    ) -> None:
        """Insert a row or replace the ``replace`` columns of the one with the same ``key``."""
        bound = self.bound(connection)
        dialect = self.dialect(connection)
        if isinstance(dialect, PortableDialect):
            _portable_upsert(dialect, bound, names, values, key=key, replace=replace)
            return
        sql = dialect.upsert(bound, names, key, replace)
        with connection.cursor() as cursor:
            cursor.execute(sql, values)


def _portable_upsert(
    dialect: PortableDialect,
    bound: BoundTable,
    names: Sequence[str],
    values: list[Any],
    *,
    key: str,
    replace: Sequence[str],
) -> None:
    # Update first; insert when no row matched; a concurrent insert makes ours fail, and
    # then the update finds the row.
    connection = bound.connection
    by_name = dict(zip(names, values, strict=True))
    update_sql = dialect.update(bound, replace, key)
    update_params = [by_name[n] for n in replace] + [by_name[key]]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(update_sql, update_params)
        if cursor.rowcount:
            return
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute(dialect.insert(bound, names), values)
        except IntegrityError:
            cursor.execute(update_sql, update_params)


def _select_sql(names: tuple[str, ...], key: str, count: int = 1) -> Callable[[BoundTable], str]:
    """Builds ``SELECT names FROM table WHERE key = %s`` (or ``IN`` ``count`` values)."""

    def build(bound: BoundTable) -> str:
        columns = ", ".join(bound.columns[name] for name in names)
        condition = "= %s" if count == 1 else f"IN ({placeholders(count)})"
        return f"SELECT {columns} FROM {bound.table} WHERE {bound.columns[key]} {condition}"

    return build


def model_field(model: type[Model], name: str) -> Field[Any, Any]:
    """The concrete field ``name`` of ``model``."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):  # pragma: no cover - our models have no relations
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def aware(value: datetime | None) -> datetime | None:
    """A date read from the table, made aware where the table holds naive local times."""
    if value is None or django_timezone.is_aware(value):
        return value
    # USE_TZ = False: the database holds naive local times (TIME_ZONE).
    return django_timezone.make_aware(value, django_timezone.get_default_timezone())


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def to_record(record_class: Callable[..., _R], names: Sequence[str], row: Sequence[Any]) -> _R:
    """The record of a row read as ``names``, its dates aware."""
    values = {
        name: aware(value) if isinstance(value, datetime) else value
        for name, value in zip(names, row, strict=True)
    }
    return record_class(**values)


def record_fields(record_class: type[Any]) -> tuple[str, ...]:
    """The attribute names of an attrs record class, in order.

    A record's attributes are its model's field names, in the order of the table's columns.
    """
    return tuple(field.name for field in attrs.fields(record_class))
