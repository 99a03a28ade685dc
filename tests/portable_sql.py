"""The ORM repositories sent down the portable, standard-SQL path, for the contract tests.

That is the path of vendors the ORM adapter has no dialect for (and of SQLite < 3.35's
decrement): each repository below declares no SQL family, so every vendor gets standard SQL.
MySQL/MariaDB always get their own dialect (``portable_alias`` skips them): the portable
path's standard SQL (LIMIT in an IN subquery, update-then-insert under InnoDB's gap locks) is
not meant for them.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.db import connections

from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)

__all__ = [
    "PortableChordCounterRepository",
    "PortableGroupRepository",
    "PortableTaskRepository",
    "portable_alias",
]


class PortableTaskRepository(DjangoTaskRepository):
    """The task repository with every vendor sent down the portable, standard-SQL path."""

    sql_families: ClassVar[dict[str, str]] = {}


class PortableGroupRepository(DjangoGroupRepository):
    """The group repository on the portable path."""

    sql_families: ClassVar[dict[str, str]] = {}


class PortableChordCounterRepository(DjangoChordCounterRepository):
    """The chord repository on the portable path (also SQLite < 3.35's decrement)."""

    sql_families: ClassVar[dict[str, str]] = {}


def portable_alias(alias: str) -> str:
    """``alias``, or a skip where it is MySQL/MariaDB, which always use their own dialect."""
    if connections[alias].vendor == "mysql":
        pytest.skip("MySQL/MariaDB always use the ON DUPLICATE KEY dialect")
    return alias
