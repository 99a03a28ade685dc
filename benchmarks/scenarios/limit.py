"""The bare-driver limit: the backend's row written and read by one statement, no backend at all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from celery import states

from benchmarks.scenarios.roundtrips import RoundTrips

__all__ = ["TASK_COLUMNS", "TASK_TABLE", "DriverLimit"]

#: ``TaskResult`` columns, the order the limit writes them in. Written out here, not imported:
#: the scenarios import nothing from either package, so both run exactly the same code.
TASK_COLUMNS: tuple[str, ...] = (
    *("task_id", "status", "content_type", "content_encoding"),
    *("result", "traceback", "meta"),
    *("task_name", "task_args", "task_kwargs", "worker", "periodic_task_name"),
    *("date_created", "date_started", "date_done"),
)
TASK_TABLE = "django_celery_results_taskresult"


class DriverLimit:
    """The same row as the backend writes, upserted and read through the bare driver.

    One parameterised ``INSERT ... ON CONFLICT DO UPDATE`` (``ON DUPLICATE KEY UPDATE`` on
    MariaDB) per write and one ``SELECT`` per read, in autocommit, on the table the package's
    migrations made: no ORM, no serializer, no state policy. With ``via_django`` the same
    statements and parameters go through a Django cursor of the ``default`` alias instead, a
    new one per statement as the ORM (and our repositories) open them: Django's cursor
    wrapper, and on PostgreSQL its client-side-binding ``ClientCursor``.
    """

    def __init__(self, vendor: str, database: dict[str, Any], *, via_django: bool = False) -> None:
        self.vendor = vendor
        self.via_django = via_django
        self.counter: RoundTrips | None = None
        self.connection: Any
        placeholder = "%s"
        if via_django:
            from django.db import connections

            self.connection = connections["default"]
        elif vendor == "sqlite":
            import sqlite3

            placeholder = "?"
            self.connection = sqlite3.connect(
                database["NAME"], isolation_level=None, check_same_thread=False
            )
        elif vendor == "postgresql":
            import psycopg

            self.connection = psycopg.connect(
                host=database["HOST"],
                port=database["PORT"],
                user=database["USER"],
                password=database.get("PASSWORD") or None,
                dbname=database["NAME"],
                autocommit=True,
            )
        elif vendor == "mysql":
            import MySQLdb

            self.connection = MySQLdb.connect(
                host=database["HOST"],
                port=int(database["PORT"]),
                user=database["USER"],
                password=database.get("PASSWORD", ""),
                database=database["NAME"],
                charset="utf8mb4",
                autocommit=True,
            )
        else:
            raise ValueError(f"no bare-driver limit for {vendor}")
        # The bare driver keeps one cursor; Django's path opens one per statement.
        self.cursor: Any = None if via_django else self.connection.cursor()
        columns = ", ".join(TASK_COLUMNS)
        values = ", ".join([placeholder] * len(TASK_COLUMNS))
        replaced = [c for c in TASK_COLUMNS if c not in ("task_id", "date_created")]
        insert = f"INSERT INTO {TASK_TABLE} ({columns}) VALUES ({values})"
        if vendor == "mysql":
            assignments = ", ".join(f"{c} = VALUES({c})" for c in replaced)
            self.upsert_sql = f"{insert} ON DUPLICATE KEY UPDATE {assignments}"
        else:
            assignments = ", ".join(f"{c} = excluded.{c}" for c in replaced)
            self.upsert_sql = f"{insert} ON CONFLICT (task_id) DO UPDATE SET {assignments}"
        self.select_sql = f"SELECT {columns} FROM {TASK_TABLE} WHERE task_id = {placeholder}"
        self._result_index = TASK_COLUMNS.index("result")

    def _date(self, value: datetime | None) -> Any:
        # What Django stores with USE_TZ: text for SQLite, naive UTC for MySQL, aware for PG.
        if value is None or self.vendor == "postgresql":
            return value
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
        return naive.isoformat(" ") if self.vendor == "sqlite" else naive

    def upsert(self, task_id: str, value: Any, state: str) -> None:
        """Write the row of ``task_id`` (insert or replace) in one statement."""
        now = datetime.now(timezone.utc)
        params = (
            task_id,
            state,
            "application/json",
            "utf-8",
            json.dumps(value),
            None,
            json.dumps({"children": []}),
            None,
            None,
            None,
            None,
            None,
            self._date(now),
            self._date(now if state == states.STARTED else None),
            self._date(now),
        )
        self._execute(self.upsert_sql, params, fetch=False)

    def select(self, task_id: str) -> Any:
        """The stored result of ``task_id`` (decoded), or None; one ``SELECT``."""
        row = self._execute(self.select_sql, (task_id,), fetch=True)
        return None if row is None else json.loads(row[self._result_index])

    def _execute(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        if self.counter is not None:
            self.counter.count += 1
        if not self.via_django:
            self.cursor.execute(sql, params)
            return self.cursor.fetchone() if fetch else None
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if fetch else None

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
