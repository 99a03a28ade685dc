"""The in-memory adapter against the port contracts, plus what only it promises."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from django_celery_results.adapters.memory import (
    MemoryChordCounterRepository,
    MemoryChordPartStore,
    MemoryGroupRepository,
    MemoryTaskRepository,
    SystemClock,
)
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    GroupRepository,
    TaskRepository,
)
from django_celery_results.domain.records import FieldLimits
from tests.chord_part_contract import ChordParts, ChordPartStoreContract
from tests.contract import (
    ChordCounterRepositoryContract,
    GroupRepositoryContract,
    TaskRepositoryContract,
)


class TestMemoryTaskRepository(TaskRepositoryContract):
    """MemoryTaskRepository honours the TaskRepository contract."""

    @pytest.fixture
    def task_repo(self) -> TaskRepository:
        """A fresh, empty in-memory task repository."""
        return MemoryTaskRepository()

    def test_custom_limits_are_declared(self) -> None:
        """The limits given at construction are the ones the repository declares."""
        limits = FieldLimits(id=36, worker=10)
        assert MemoryTaskRepository(limits).limits is limits


class TestMemoryGroupRepository(GroupRepositoryContract):
    """MemoryGroupRepository honours the GroupRepository contract."""

    @pytest.fixture
    def group_repo(self) -> GroupRepository:
        """A fresh, empty in-memory group repository."""
        return MemoryGroupRepository()


class TestMemoryChordCounterRepository(ChordCounterRepositoryContract):
    """MemoryChordCounterRepository honours the ChordCounterRepository contract."""

    @pytest.fixture
    def chord_repo(self) -> ChordCounterRepository:
        """A fresh, empty in-memory chord counter repository."""
        return MemoryChordCounterRepository()

    def test_declares_atomic_decrement(self) -> None:
        """The memory adapter promises atomic decrements (its lock), so the race test runs."""
        assert MemoryChordCounterRepository.atomic_decrement is True


class TestMemoryChordPartStore(ChordPartStoreContract):
    """MemoryChordPartStore honours the ChordPartStore contract."""

    @pytest.fixture
    def chord_parts(self) -> ChordParts:
        """A fresh in-memory chord part store over fresh, empty memory repositories."""
        tasks, chords = MemoryTaskRepository(), MemoryChordCounterRepository()
        return ChordParts(MemoryChordPartStore(tasks, chords), tasks, chords)


def test_system_clock_is_aware_utc() -> None:
    """SystemClock.now() is timezone-aware with a zero UTC offset."""
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert now.tzinfo == timezone.utc
