"""The ChordPartStore contract (tests/chord_part_contract.py) on every configured database.

``DjangoChordPartStore`` runs once per alias (``db_alias``: SQLite, PostgreSQL, MariaDB) on its
one-step path (one statement on PostgreSQL, one transaction elsewhere), then through the
portable SQL, where it stores and then counts (PostgreSQL and SQLite). What only the ORM
promises (statement counts, a failed count rolling the result back) stays in
``test_orm_chord_parts.py``.
"""

from __future__ import annotations

import pytest
from django.db import connections

from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoChordPartStore,
    DjangoTaskRepository,
)
from tests.chord_part_contract import ChordParts, ChordPartStoreContract
from tests.portable_sql import (
    PortableChordCounterRepository,
    PortableTaskRepository,
    portable_alias,
)

ALL = "__all__"
pytestmark = pytest.mark.django_db(databases=ALL)


def _parts(tasks: DjangoTaskRepository, chords: DjangoChordCounterRepository) -> ChordParts:
    return ChordParts(DjangoChordPartStore(tasks, chords), tasks, chords)


class TestDjangoChordPartStoreContract(ChordPartStoreContract):
    """The ChordPartStore contract on each database alias."""

    @pytest.fixture
    def chord_parts(self, db_alias: str) -> ChordParts:
        """A chord part store over the task and chord repositories pinned to ``db_alias``."""
        return _parts(
            DjangoTaskRepository(using=db_alias), DjangoChordCounterRepository(using=db_alias)
        )

    def contract_thread_finished(self) -> None:
        """Close the worker thread's connections, or the test database cannot be dropped."""
        for connection in connections.all(initialized_only=True):
            connection.close()

    @pytest.mark.django_db(databases=ALL, transaction=True)
    def test_concurrent_duplicate_reports_count_once(self, chord_parts: ChordParts) -> None:
        """8 threads reporting every header task on real connections count each task once."""
        super().test_concurrent_duplicate_reports_count_once(chord_parts)


class TestPortableChordPartStoreContract(TestDjangoChordPartStoreContract):
    """The ChordPartStore contract through the portable SQL: it stores, then counts."""

    @pytest.fixture
    def chord_parts(self, db_alias: str) -> ChordParts:
        """A chord part store over portable-SQL repositories pinned to ``db_alias``."""
        alias = portable_alias(db_alias)
        return _parts(
            PortableTaskRepository(using=alias), PortableChordCounterRepository(using=alias)
        )
