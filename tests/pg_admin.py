"""PostgreSQL administration for the tests, on the driver Django uses: psycopg 3, else psycopg2.

Django's PostgreSQL backend runs on either driver (psycopg 3 when importable), so the tests'
own raw connections must too: terminating a session from another connection, creating and
dropping scratch databases, and producing real driver errors. The driver is imported through
``importlib`` so that neither driver's typing leaks into the callers; importing this module
raises ``ImportError`` when neither is installed.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

__all__ = ["DRIVER_NAME", "connect", "driver", "execute", "server_error", "sql"]


def _import_driver() -> ModuleType:
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        return importlib.import_module("psycopg2")


#: The installed driver module (``psycopg`` or ``psycopg2``).
driver = _import_driver()
#: Its ``sql`` module: both drivers offer the same ``SQL`` / ``Identifier`` / ``format`` API.
sql = importlib.import_module(f"{driver.__name__}.sql")
DRIVER_NAME: str = driver.__name__


def connect(
    *,
    host: str,
    port: Any,
    user: str,
    password: str | None = None,
    dbname: str = "postgres",
    connect_timeout: int | None = None,
) -> Any:
    """A new autocommit connection; the caller closes it (psycopg2's ``with`` does not)."""
    options: dict[str, Any] = {"host": host, "port": port, "user": user, "dbname": dbname}
    if password:
        options["password"] = password
    if connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    conn = driver.connect(**options)
    conn.autocommit = True
    return conn


def execute(
    statement: Any,
    params: Any = None,
    *,
    host: str,
    port: Any,
    user: str,
    password: str | None = None,
) -> None:
    """Run one statement on the ``postgres`` database, in autocommit, on its own connection."""
    conn = connect(host=host, port=port, user=user, password=password)
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(statement, params)
        finally:
            cursor.close()
    finally:
        conn.close()


_PLAIN = re.compile(r"[A-Za-z0-9_ ]+")


def server_error(
    sqlstate: str, message: str, *, host: str, port: Any, user: str, password: str | None = None
) -> BaseException:
    """The driver's exception for a server error carrying ``sqlstate`` and ``message``.

    Raised by the server, not built by hand: a psycopg2 error class instantiated directly has
    ``pgcode = None`` (read-only, set only from a server answer), so only a real error carries
    the SQLSTATE on both drivers.
    """
    if not (_PLAIN.fullmatch(sqlstate) and _PLAIN.fullmatch(message)):
        raise ValueError(f"sqlstate and message must be plain words: {sqlstate!r}, {message!r}")
    statement = f"DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}'; END $$"
    try:
        execute(statement, host=host, port=port, user=user, password=password)
    except driver.Error as exc:
        error: BaseException = exc
        return error
    raise AssertionError(f"the server raised nothing for SQLSTATE {sqlstate}")
