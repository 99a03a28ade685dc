"""In-memory repositories: thread-safe, public, for tests and for running without a database.

They pass the same contract tests as the ORM adapter, so a project's test settings can point
``DatabaseBackend`` at them (``DJANGO_CELERY_RESULTS_REPOSITORIES = "memory"``) and run Celery
with no database at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Generic, Protocol, TypeVar

import attrs

from ..domain import states
from ..domain.clock import SystemClock
from ..domain.records import ChordCounter, FieldLimits, GroupRecord, PartCount, TaskRecord

__all__ = [
    "MemoryChordCounterRepository",
    "MemoryChordPartStore",
    "MemoryGroupRepository",
    "MemoryTaskRepository",
    "SystemClock",  # re-exported: the clock the memory adapter's users compose it with
]


class _Done(Protocol):
    """A record with the date ``delete_done_before`` reads."""

    @property
    def date_done(self) -> datetime | None: ...


_R = TypeVar("_R", bound=_Done)


class _MemoryRecords(Generic[_R]):
    """Records by id in a dict guarded by a lock: what the task and group repositories share."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, _R] = {}

    @property
    def lock(self) -> threading.RLock:
        """The (re-entrant) lock guarding the records; ``MemoryChordPartStore`` holds it."""
        return self._lock

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove records done before ``cutoff``; ``batch_size`` is irrelevant in memory."""
        with self._lock:
            old = [k for k, r in self._records.items() if _before(r.date_done, cutoff)]
            for key in old:
                del self._records[key]
            return len(old)


class MemoryTaskRepository(_MemoryRecords[TaskRecord]):
    """Task records in a dict guarded by a lock."""

    def __init__(self, limits: FieldLimits | None = None) -> None:
        super().__init__()
        self._limits = limits or FieldLimits()

    @property
    def limits(self) -> FieldLimits:
        """The field widths this repository accepts (the schema's, by default)."""
        return self._limits

    def store(self, record: TaskRecord) -> bool:
        """Write ``record`` unless the stored state blocks it (see ``states.blocking_states``)."""
        with self._lock:
            stored = self._records.get(record.task_id)
            if stored is None:
                self._records[record.task_id] = record
                return True
            if not states.may_overwrite(stored.status, record.status):
                return False
            self._records[record.task_id] = attrs.evolve(
                record,
                date_created=stored.date_created,
                date_started=record.date_started or stored.date_started,
            )
            return True

    def get(self, task_id: str) -> TaskRecord | None:
        """The stored record or None."""
        with self._lock:
            return self._records.get(task_id)

    def get_many(self, task_ids: Iterable[str]) -> Mapping[str, TaskRecord]:
        """The stored records among ``task_ids``."""
        with self._lock:
            return {i: self._records[i] for i in set(task_ids) if i in self._records}

    def delete(self, task_id: str) -> None:
        """Remove the record; unknown ids are ignored."""
        with self._lock:
            self._records.pop(task_id, None)


class MemoryGroupRepository(_MemoryRecords[GroupRecord]):
    """Group records in a dict guarded by a lock."""

    def get(self, group_id: str) -> GroupRecord | None:
        """The stored group or None."""
        with self._lock:
            return self._records.get(group_id)

    def save(self, record: GroupRecord) -> None:
        """Insert or replace, keeping the stored ``date_created``."""
        with self._lock:
            stored = self._records.get(record.group_id)
            if stored is not None:
                record = attrs.evolve(record, date_created=stored.date_created)
            self._records[record.group_id] = record

    def delete(self, group_id: str) -> None:
        """Remove the group; unknown ids are ignored."""
        with self._lock:
            self._records.pop(group_id, None)


class MemoryChordCounterRepository:
    """Chord counters in a dict; the lock makes ``decrement`` atomic across threads."""

    #: Decrements cannot interleave (within one process, which is all memory can share).
    atomic_decrement = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counters: dict[str, ChordCounter] = {}
        self._parts: dict[str, set[str]] = {}

    @property
    def lock(self) -> threading.RLock:
        """The (re-entrant) lock guarding the counters; ``MemoryChordPartStore`` holds it."""
        return self._lock

    def create(self, counter: ChordCounter) -> None:
        """Store or replace the counter; one without ``date_created`` is dated now."""
        if counter.date_created is None:
            counter = attrs.evolve(counter, date_created=datetime.now(timezone.utc))
        with self._lock:
            self._counters[counter.group_id] = counter

    def decrement(self, group_id: str) -> int | None:
        """Lower the count by one (not below zero); None for an unknown chord."""
        with self._lock:
            counter = self._counters.get(group_id)
            if counter is None:
                return None
            counter = counter.decrement()
            self._counters[group_id] = counter
            return counter.count

    def count_part(self, group_id: str, task_id: str) -> PartCount:
        """Count ``task_id`` once for the chord; duplicates and late reports change nothing."""
        with self._lock:
            counter = self._counters.get(group_id)
            if counter is None:
                return PartCount(remaining=None, counted=False)
            parts = self._parts.setdefault(group_id, set())
            if task_id in parts or counter.is_done:
                return PartCount(remaining=counter.count, counted=False)
            parts.add(task_id)
            counter = counter.decrement()
            self._counters[group_id] = counter
            return PartCount(remaining=counter.count, counted=True)

    def clear_parts(self, group_id: str) -> None:
        """Forget which task ids were counted; the counter stays."""
        with self._lock:
            self._parts.pop(group_id, None)

    def get(self, group_id: str) -> ChordCounter | None:
        """The counter or None."""
        with self._lock:
            return self._counters.get(group_id)

    def delete(self, group_id: str) -> None:
        """Remove the counter and its counted parts; unknown ids are ignored."""
        with self._lock:
            self._counters.pop(group_id, None)
            self._parts.pop(group_id, None)

    def claim_callback(self, group_id: str, now: datetime, stale_before: datetime) -> bool:
        """Claim sending the callback where ``may_claim``; exactly one concurrent caller wins."""
        with self._lock:
            counter = self._counters.get(group_id)
            if counter is None or not counter.may_claim(stale_before, now):
                return False
            self._counters[group_id] = attrs.evolve(counter, date_claimed=now)
            return True

    def callback_done(self, group_id: str, now: datetime) -> None:
        """Record that the callback was dealt with; unknown ids are ignored."""
        with self._lock:
            counter = self._counters.get(group_id)
            if counter is not None:
                self._counters[group_id] = attrs.evolve(counter, date_done=now)

    def awaiting_callback(self, stale_before: datetime, limit: int) -> list[ChordCounter]:
        """Counters that ``needs_recovery``, oldest first, at most ``limit``."""
        with self._lock:
            due = [c for c in self._counters.values() if c.needs_recovery(stale_before)]
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        due.sort(key=lambda c: c.date_claimed or c.date_created or epoch)
        return due[:limit]

    def delete_created_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove counters created before ``cutoff`` with their parts."""
        with self._lock:
            old = [k for k, c in self._counters.items() if _before(c.date_created, cutoff)]
            for key in old:
                del self._counters[key]
                self._parts.pop(key, None)
            return len(old)


class MemoryChordPartStore:
    """``ChordPartStore`` over the memory repositories: a result and its count as one step.

    Holds both repositories' locks (the tasks' first, the only order anything takes both in),
    so no reader sees the part counted without the result stored, or the other way round.

    Args:
        tasks: the repository that keeps the result.
        chords: the repository that keeps the counter and the counted parts.
    """

    def __init__(self, tasks: MemoryTaskRepository, chords: MemoryChordCounterRepository) -> None:
        self.tasks = tasks
        self.chords = chords

    def store_part(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]:
        """Store ``record`` and count it as a returned part of chord ``group_id``."""
        with self.tasks.lock, self.chords.lock:
            return self.tasks.store(record), self.chords.count_part(group_id, record.task_id)


def _before(value: datetime | None, cutoff: datetime) -> bool:
    return value is not None and value < cutoff
