"""The repositories' short write transactions, and whether a caller already holds one.

A chord part is counted in a transaction of a few statements; the cheapest way to open one
differs by vendor (``write_transaction``). A chord counter must be visible to workers before
the caller commits, so its repository asks whether the caller holds a transaction of its own
(``in_callers_transaction``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["in_callers_transaction", "write_transaction"]

#: Vendor -> the statement opening a transaction that is about to write, in autocommit.
_BEGIN = {"sqlite": "BEGIN IMMEDIATE", "mysql": "START TRANSACTION"}


def in_callers_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether the caller holds an open transaction (not just a test case's wrapping one).

    Django's ``TestCase`` (and pytest-django's ``django_db``) wrap each test in atomic blocks
    marked ``_from_testcase``; those roll back, never commit, so there is no later commit for
    the workers to wait for and writing inside them is what a test expects.
    """
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@contextlib.contextmanager
def write_transaction(connection: BaseDatabaseWrapper) -> Iterator[None]:
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
    begin = _BEGIN.get(connection.vendor)
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
