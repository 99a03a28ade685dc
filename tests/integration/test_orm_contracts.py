"""The port contracts on the ORM repositories, on every alias and through the portable SQL.

The contract suites (tests/contract/) run once per alias (``db_alias``: SQLite, PostgreSQL,
MariaDB), then again with every vendor sent down the portable, standard-SQL path.
"""

from __future__ import annotations

import pytest

from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    GroupRepository,
    TaskRepository,
)
from tests.contract import (
    ChordCounterRepositoryContract,
    GroupRepositoryContract,
    TaskRepositoryContract,
)
from tests.integration.orm_support import ALL, close_thread_connections, transactional
from tests.portable_sql import (
    PortableChordCounterRepository,
    PortableGroupRepository,
    PortableTaskRepository,
    portable_alias,
)

pytestmark = pytest.mark.django_db(databases=ALL)


# -- the port contracts, on every alias -----------------------------------------------------------


class TestDjangoTaskRepositoryContract(TaskRepositoryContract):
    """The TaskRepository contract on each database alias."""

    @pytest.fixture
    def task_repo(self, db_alias: str) -> TaskRepository:
        """A task repository pinned to ``db_alias`` (the table is empty at the start)."""
        return DjangoTaskRepository(using=db_alias)

    def contract_thread_finished(self) -> None:
        """Close the worker thread's connections."""
        close_thread_connections()

    @transactional
    def test_concurrent_successes_exactly_one_wins(self, task_repo: TaskRepository) -> None:
        """store() is one atomic statement: of 8 racing SUCCESS writes exactly one is written."""
        super().test_concurrent_successes_exactly_one_wins(task_repo)


class TestDjangoGroupRepositoryContract(GroupRepositoryContract):
    """The GroupRepository contract on each database alias."""

    @pytest.fixture
    def group_repo(self, db_alias: str) -> GroupRepository:
        """A group repository pinned to ``db_alias``."""
        return DjangoGroupRepository(using=db_alias)


class TestDjangoChordCounterRepositoryContract(ChordCounterRepositoryContract):
    """The ChordCounterRepository contract on each database alias."""

    @pytest.fixture
    def chord_repo(self, db_alias: str) -> ChordCounterRepository:
        """A chord counter repository pinned to ``db_alias``."""
        return DjangoChordCounterRepository(using=db_alias)

    def contract_thread_finished(self) -> None:
        """Close the worker thread's connections."""
        close_thread_connections()

    @transactional
    def test_concurrent_decrements_are_atomic(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads x 50 decrements on real connections end at 0, each value returned once."""
        super().test_concurrent_decrements_are_atomic(chord_repo)

    @transactional
    def test_concurrent_duplicate_reports_count_once(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """8 threads reporting every header task on real connections count each task once."""
        super().test_concurrent_duplicate_reports_count_once(chord_repo)

    @transactional
    def test_concurrent_claims_have_one_winner(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads claiming one finished chord's callback on real connections: one wins."""
        super().test_concurrent_claims_have_one_winner(chord_repo)


# -- the same contracts through the portable SQL (the path of vendors we have no dialect for) ----


class TestPortableTaskRepositoryContract(TestDjangoTaskRepositoryContract):
    """The TaskRepository contract through the portable SQL (PostgreSQL and SQLite)."""

    @pytest.fixture
    def task_repo(self, db_alias: str) -> TaskRepository:
        """A portable-SQL task repository pinned to ``db_alias``."""
        return PortableTaskRepository(using=portable_alias(db_alias))


class TestPortableGroupRepositoryContract(TestDjangoGroupRepositoryContract):
    """The GroupRepository contract through the portable SQL."""

    @pytest.fixture
    def group_repo(self, db_alias: str) -> GroupRepository:
        """A portable-SQL group repository pinned to ``db_alias``."""
        return PortableGroupRepository(using=portable_alias(db_alias))


class TestPortableChordCounterRepositoryContract(TestDjangoChordCounterRepositoryContract):
    """The ChordCounterRepository contract through the portable SQL."""

    @pytest.fixture
    def chord_repo(self, db_alias: str) -> ChordCounterRepository:
        """A portable-SQL chord counter repository pinned to ``db_alias``."""
        return PortableChordCounterRepository(using=portable_alias(db_alias))
