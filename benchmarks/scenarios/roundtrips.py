"""Round trips to a store, counted: SQL statements and transaction control, or cache commands."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["CACHE_METHODS", "RoundTrips", "calls_counted", "statements_counted"]


class RoundTrips:
    """A running count of round trips to the store."""

    def __init__(self) -> None:
        self.count = 0

    def take(self) -> int:
        """The count since the last ``take``."""
        count, self.count = self.count, 0
        return count


#: Django cache methods counted on the local-memory cache (each is one "command" there).
CACHE_METHODS = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "has_key",
    "incr",
    "decr",
    "get_many",
    "set_many",
    "delete_many",
    "get_or_set",
)


@contextlib.contextmanager
def calls_counted(targets: Sequence[tuple[type, str]], counter: RoundTrips) -> Iterator[None]:
    """Count calls of ``targets`` (class, method), outermost calls only, while the block runs."""
    depth = threading.local()
    saved: list[tuple[type, str, Any]] = []

    def counted(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            if level == 0:
                counter.count += 1
            depth.level = level + 1
            try:
                return original(*args, **kwargs)
            finally:
                depth.level = level

        return wrapper

    for cls, name in targets:
        saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, counted(getattr(cls, name)))
    try:
        yield
    finally:
        for cls, name, original in reversed(saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


@contextlib.contextmanager
def statements_counted(alias: str, counter: RoundTrips) -> Iterator[None]:
    """Count statements, and the transaction control Django sends outside ``execute``.

    Statements go through ``execute_wrapper``. Starting a transaction
    (``set_autocommit(False)``: the driver's ``BEGIN`` or ``SET autocommit=0``), ``commit()``
    and ``rollback()`` reach the server through the driver's own calls, so they are counted
    by wrapping those methods of this thread's connection. (SQLite's ``BEGIN`` is a statement.)
    """
    from django.db import connections

    connection = connections[alias]

    def statement(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        counter.count += 1
        return execute(sql, params, many, context)

    def control(name: str) -> Callable[..., Any]:
        original = getattr(connection, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name != "set_autocommit" or not (args[0] if args else kwargs["autocommit"]):
                counter.count += 1
            return original(*args, **kwargs)

        return wrapper

    names = ("commit", "rollback", "set_autocommit")
    for name in names:
        setattr(connection, name, control(name))
    try:
        with connection.execute_wrapper(statement):
            yield
    finally:
        for name in names:
            delattr(connection, name)
