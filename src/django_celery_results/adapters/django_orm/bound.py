"""A model's table as one database connection speaks it, worked out once per connection.

The repositories write and read with hand-built SQL. Building that SQL and preparing each value
through ``Model._meta.get_field(name).get_db_prep_value(...)`` on every call cost more Python
time than the database spent on the statement (the profile in BENCHMARKS.md: 16 value
preparations and 38 field look-ups per stored result). A ``BoundTable`` holds, for one model on
one connection:

- the quoted table, primary key and column names;
- one *preparer* per column, chosen once from the field's type: text is sent as it is (with NUL
  replaced where the vendor refuses it, and characters the column's MySQL character set cannot
  hold escaped), dates go through the backend's own ``adapt_datetimefield_value``, anything
  else through the field's ``get_db_prep_value``;
- the backend's and the field's read converters for each column, exactly the ones the ORM's
  compiler would apply to a ``values_list`` of the same columns;
- a cache of the SQL statements the repositories built for it.

Connections are per thread (and per alias), so a ``BoundTable`` is never shared across threads;
each connection wrapper holds its own, and a change of ``USE_TZ`` gets a fresh one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone as django_timezone

__all__ = ["BoundTable", "bound_table", "forget_mysql_charsets"]

#: How a Python value (never None) becomes the parameter sent for one column.
Preparer = Callable[[Any], Any]
#: Django's read converters: ``converter(value, expression, connection)``.
_Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]

_TEXT_TYPES = frozenset({"CharField", "TextField"})
_DATETIME_TYPES = frozenset({"DateTimeField"})

#: Characters outside the Basic Multilingual Plane: 4 bytes in UTF-8, which MySQL's 3-byte
#: ``utf8``/``utf8mb3`` cannot hold ("Incorrect string value", error 1366).
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
#: MySQL character sets narrower than Unicode, by the Python codec that encodes the same
#: characters (MySQL's ``latin1`` is Windows-1252). Others (utf8mb4, binary, UCS-2 ...) are
#: sent as they are.
_MYSQL_CODECS = {"latin1": "cp1252", "ascii": "ascii"}
_MYSQL_THREE_BYTE = frozenset({"utf8", "utf8mb3"})


def _escape_astral(value: str) -> str:
    if value.isascii():
        return value
    return _ASTRAL.sub(lambda found: found.group().encode("unicode_escape").decode(), value)


def _escaper(charset: str | None) -> Callable[[str], str] | None:
    """How text bound for a column in MySQL character set ``charset`` is made storable."""
    name = (charset or "").lower()
    if name in _MYSQL_THREE_BYTE:
        return _escape_astral
    codec = _MYSQL_CODECS.get(name)
    if codec is None:
        return None

    def escape(value: str) -> str:
        if value.isascii():
            return value
        return value.encode(codec, "backslashreplace").decode(codec)

    return escape


#: (host, port, database, table, connection charset) -> that table's escapers: the schema is
#: read once per process, not per connection (Celery's Django fix-up reconnects per task).
_MYSQL_ESCAPERS: dict[tuple[str, ...], dict[str, Callable[[str], str]]] = {}


def forget_mysql_charsets() -> None:
    """Forget the character sets read from MySQL's schema (after changing a column's)."""
    _MYSQL_ESCAPERS.clear()


def _mysql_text_escapers(
    connection: BaseDatabaseWrapper, db_table: str
) -> dict[str, Callable[[str], str]]:
    """Column -> escaper for the text columns of ``db_table`` that cannot hold all of Unicode.

    A character the column's character set (or the connection's, which MySQL converts from)
    cannot hold fails the whole write with error 1366, and with it a task's FAILURE: an emoji
    in an exception message on a table created with MySQL's 3-byte ``utf8``. Read once per
    process and table (one query to ``information_schema``).
    """
    connection.ensure_connection()
    config = connection.settings_dict
    key = (
        str(config.get("HOST") or ""),
        str(config.get("PORT") or ""),
        str(config.get("NAME") or ""),
        db_table,
        str(_connection_charset(connection)),
    )
    found = _MYSQL_ESCAPERS.get(key)
    if found is None:
        found = _MYSQL_ESCAPERS[key] = _read_mysql_text_escapers(connection, db_table)
    return found


def _read_mysql_text_escapers(
    connection: BaseDatabaseWrapper, db_table: str
) -> dict[str, Callable[[str], str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [db_table],
        )
        rows = cursor.fetchall()
    session = _connection_charset(connection)
    escapers: dict[str, Callable[[str], str]] = {}
    for column, charset in rows:
        escaper = _escaper(charset) or _escaper(session)
        if escaper is not None:
            escapers[str(column)] = escaper
    return escapers


def _connection_charset(connection: BaseDatabaseWrapper) -> str | None:
    # mysqlclient's connection knows the character set it negotiated.
    database = getattr(connection, "connection", None)
    name = getattr(database, "character_set_name", None)
    return str(name()) if callable(name) else None


class BoundTable:
    """``model``'s table on ``connection``: quoted names, value preparers, row converters, SQL.

    Args:
        model: the Django model.
        connection: the connection (one alias, one thread) the statements will run on.
        nul_replacement: what replaces NUL in text values, or None to send text unchanged
            (for vendors that store NUL).
    """

    def __init__(
        self, model: type[Model], connection: BaseDatabaseWrapper, nul_replacement: str | None
    ) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        self.model = model
        self.connection = connection
        self.table: str = quote(meta.db_table)
        self.pk: str = quote(meta.pk.column)
        self.fields: dict[str, Field[Any, Any]] = {
            field.name: field for field in meta.concrete_fields
        }
        self.columns: dict[str, str] = {
            name: quote(field.column) for name, field in self.fields.items() if field.column
        }
        self._nul_replacement = nul_replacement
        self._escapers = (
            _mysql_text_escapers(connection, meta.db_table) if connection.vendor == "mysql" else {}
        )
        self._preparers: dict[str, Preparer] = {
            name: self._preparer(field) for name, field in self.fields.items()
        }
        self._statements: dict[Hashable, str] = {}
        self._readers: dict[tuple[str, ...], Callable[[Sequence[Any]], list[Any]]] = {}

    # -- writing ------------------------------------------------------------------------------

    def _preparer(self, field: Field[Any, Any]) -> Preparer:
        kind = field.get_internal_type()
        if kind in _TEXT_TYPES:
            # CharField/TextField send a str unchanged (``to_python`` of a str is itself) and
            # anything else (a UUID task id) as its str(), as the fields do.
            escape = self._escapers.get(field.column or "")
            if escape is None:
                return self._text
            text = self._text

            def escaped(value: Any) -> Any:
                return escape(text(value))

            return escaped
        if kind in _DATETIME_TYPES:
            return self._datetime
        connection = self.connection

        def prepare(value: Any) -> Any:
            return field.get_db_prep_value(value, connection, prepared=False)

        return prepare

    def _text(self, value: Any) -> Any:
        if not isinstance(value, str):
            value = str(value)
        if self._nul_replacement is not None and "\x00" in value:
            return value.replace("\x00", self._nul_replacement)
        return value

    def _datetime(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if not settings.USE_TZ:
                # Without USE_TZ Django stores naive local times and its backends refuse
                # aware values; records always hold aware ones.
                if django_timezone.is_aware(value):
                    value = django_timezone.make_naive(
                        value, django_timezone.get_default_timezone()
                    )
            elif django_timezone.is_naive(value):
                # As DateTimeField does (without its warning): a naive time is local time.
                value = django_timezone.make_aware(value, django_timezone.get_default_timezone())
        return self.connection.ops.adapt_datetimefield_value(value)

    def prepare(self, name: str, value: Any) -> Any:
        """``value`` for column ``name`` as the field would send it to this database."""
        if value is None:
            return None
        return self._preparers[name](value)

    def prepare_all(self, names: Sequence[str], values: Sequence[Any]) -> list[Any]:
        """``prepare`` for each of ``names`` with the value at the same position."""
        preparers = self._preparers
        out: list[Any] = []
        for name, value in zip(names, values, strict=True):
            out.append(None if value is None else preparers[name](value))
        return out

    # -- reading ------------------------------------------------------------------------------

    def reader(self, names: tuple[str, ...]) -> Callable[[Sequence[Any]], list[Any]]:
        """A function turning a fetched row of ``names`` into Python values, as the ORM would."""
        found = self._readers.get(names)
        if found is None:
            found = self._readers[names] = self._build_reader(names)
        return found

    def _build_reader(self, names: tuple[str, ...]) -> Callable[[Sequence[Any]], list[Any]]:
        connection = self.connection
        table = self.model._meta.db_table
        steps: list[tuple[int, list[_Converter], Any]] = []
        for index, name in enumerate(names):
            field = self.fields[name]
            column = field.get_col(table)
            converters = [
                *connection.ops.get_db_converters(column),
                *field.get_db_converters(connection),
            ]
            if converters:
                steps.append((index, converters, column))

        def read(row: Sequence[Any]) -> list[Any]:
            values = list(row)
            for index, converters, column in steps:
                value = values[index]
                for converter in converters:
                    value = converter(value, column, connection)
                values[index] = value
            return values

        return read

    # -- statements ---------------------------------------------------------------------------

    def statement(self, key: Hashable, build: Callable[[BoundTable], str]) -> str:
        """The SQL cached under ``key``, built by ``build(self)`` the first time."""
        sql = self._statements.get(key)
        if sql is None:
            sql = self._statements[key] = build(self)
        return sql


_CacheKey = tuple[type[Model], str | None, bool]
#: The attribute of a connection wrapper that holds its bound tables. On the wrapper itself,
#: not in a module-level map: each BoundTable refers back to its connection, so a map keyed
#: by connections (even weakly) would keep every thread's connection alive for ever, while
#: this reference cycle goes with the wrapper when its thread is done with it.
_CACHE_ATTRIBUTE = "_django_celery_results_bound_tables"


def bound_table(
    model: type[Model], connection: BaseDatabaseWrapper, nul_replacement: str | None = None
) -> BoundTable:
    """The ``BoundTable`` of ``model`` on ``connection``, built at first use."""
    key = (model, nul_replacement, bool(settings.USE_TZ))
    tables: dict[_CacheKey, BoundTable] | None = getattr(connection, _CACHE_ATTRIBUTE, None)
    if tables is None:
        tables = {}
        setattr(connection, _CACHE_ATTRIBUTE, tables)
    table = tables.get(key)
    if table is None:
        table = tables[key] = BoundTable(model, connection, nul_replacement)
    return table
