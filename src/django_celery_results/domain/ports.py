"""Ports: what the domain needs from storage, serialization and time.

Adapters satisfy these structurally (they do not inherit from them); ``tests/typing`` proves it
with mypy. The contract each adapter must honour is written here, once, and checked against
every adapter by a contract test suite per port: ``tests/contract/`` (the repositories),
``tests/chord_part_contract.py`` (``ChordPartStore``) and ``tests/keyvalue_contract.py``
(``KeyValueStore``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from .records import ChordCounter, FieldLimits, GroupRecord, PartCount, TaskRecord

__all__ = [
    "ChordCounterRepository",
    "ChordPartStore",
    "Clock",
    "GroupRepository",
    "KeyValueStore",
    "Serializer",
    "TaskRepository",
]


class TaskRepository(Protocol):
    """Stores one ``TaskRecord`` per task id.

    Contract:
    - ``store(record)`` writes ``record`` in one atomic step unless the stored record's status is
      in ``states.blocking_states(record.status)``; it returns whether it wrote. On an update,
      ``date_created`` keeps the stored value, and ``date_started`` keeps the stored value when
      ``record.date_started`` is None; every other field takes the record's value.
    - ``get(task_id)`` returns the stored record or None; ``get_many(ids)`` returns a mapping
      holding only the ids that are stored, in as few round trips as the storage allows.
    - ``delete(task_id)`` removes the record; an unknown id is not an error.
    - ``delete_done_before(cutoff, batch_size)`` removes every record whose ``date_done`` is
      older than ``cutoff``, without loading the records, and returns how many it removed:
      at most ``batch_size`` rows per statement, or, with ``batch_size=None``, in the steps
      the storage finds best (one statement where others can keep writing meanwhile, batches
      where a statement locks everything).
    - ``limits`` declares the longest value each text field can hold; callers check records
      against it before ``store`` so an oversize value is refused with a clear error.
    - Storage failures are raised as ``errors.StorageError`` subclasses, never as the storage
      library's own exceptions.
    """

    @property
    def limits(self) -> FieldLimits: ...

    def store(self, record: TaskRecord) -> bool: ...

    def get(self, task_id: str) -> TaskRecord | None: ...

    def get_many(self, task_ids: Iterable[str]) -> Mapping[str, TaskRecord]: ...

    def delete(self, task_id: str) -> None: ...

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int: ...


class GroupRepository(Protocol):
    """Stores one ``GroupRecord`` per group id.

    Contract:
    - ``save(record)`` inserts or replaces the group; on a replace ``date_created`` keeps the
      stored value.
    - ``get(group_id)`` returns the stored record or None.
    - ``delete(group_id)`` removes it; an unknown id is not an error.
    - ``delete_done_before(cutoff, batch_size)`` as for tasks.
    - Storage failures are raised as ``errors.StorageError`` subclasses.
    """

    def save(self, record: GroupRecord) -> None: ...

    def get(self, group_id: str) -> GroupRecord | None: ...

    def delete(self, group_id: str) -> None: ...

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int: ...


class ChordCounterRepository(Protocol):
    """Counts down the header tasks of each chord.

    Contract:
    - ``create(counter)`` stores the counter, replacing one with the same group id; a counter
      without ``date_created`` is dated at the time of the call.
    - ``decrement(group_id)`` lowers the stored count by one, never below zero, as one atomic
      step that concurrent callers (threads, processes, hosts) cannot interleave, and returns
      the count after it; None when no counter is stored for ``group_id``.
    - ``count_part(group_id, task_id)`` counts header task ``task_id`` of the chord at most
      once, however often it is reported: the first call for a task id decrements (as
      ``decrement`` does) and returns ``PartCount(remaining, counted=True)``; any later call
      for the same task id, and any call once the count is at zero, changes nothing and
      returns ``counted=False``. Recording the task id and decrementing are one atomic step
      (a crash between them cannot lose or double a part). ``remaining`` is None when no
      counter is stored. Exactly one caller per chord ever sees ``is_last``.
    - ``clear_parts(group_id)`` forgets which task ids were counted (the counter stays, at
      zero, so a late duplicate is still recognised as one until cleanup removes it).
    - ``get(group_id)`` returns the counter or None; ``delete(group_id)`` removes it and its
      counted parts (unknown id: no error).
    - ``delete_created_before(cutoff, batch_size)`` removes counters (and their counted parts)
      created before ``cutoff``, batch by batch, and returns how many counters it removed.
    - ``claim_callback(group_id, now, stale_before)`` takes on sending the chord's callback:
      where the stored counter ``may_claim(stale_before, now)``, it sets ``date_claimed =
      now`` and returns True, as one atomic step, so of concurrent claimants exactly one wins
      and a claim repeated with the same ``now`` (a retry after a lost reply) wins again;
      otherwise (claimed by someone younger than ``stale_before``, done, not finished,
      unknown) it changes nothing and returns False.
    - ``callback_done(group_id, now)`` records that the callback was sent or failed
      (``date_done = now``); unknown ids are not an error.
    - ``awaiting_callback(stale_before, limit)`` returns at most ``limit`` counters that
      ``needs_recovery(stale_before)``, oldest first, without loading any other counter.
    - ``atomic_decrement`` declares whether that holds across processes and hosts; callers
      that need it (chords without Celery's polling unlock task) check this capability.
    - Storage failures are raised as ``errors.StorageError`` subclasses.
    """

    @property
    def atomic_decrement(self) -> bool: ...

    def create(self, counter: ChordCounter) -> None: ...

    def decrement(self, group_id: str) -> int | None: ...

    def count_part(self, group_id: str, task_id: str) -> PartCount: ...

    def clear_parts(self, group_id: str) -> None: ...

    def get(self, group_id: str) -> ChordCounter | None: ...

    def delete(self, group_id: str) -> None: ...

    def delete_created_before(self, cutoff: datetime, batch_size: int | None) -> int: ...

    def claim_callback(self, group_id: str, now: datetime, stale_before: datetime) -> bool: ...

    def callback_done(self, group_id: str, now: datetime) -> None: ...

    def awaiting_callback(self, stale_before: datetime, limit: int) -> list[ChordCounter]: ...


class ChordPartStore(Protocol):
    """Stores a chord header task's result and counts the part, as one atomic step.

    An optional port: a storage that can do both in one transaction saves a commit per header
    task (and, on PostgreSQL, a round trip). Without it the use case calls
    ``TaskRepository.store`` then ``ChordCounterRepository.count_part``.

    Contract:
    - ``store_part(record, group_id)`` has exactly the effects of ``tasks.store(record)``
      followed by ``chords.count_part(group_id, record.task_id)`` on the repositories it was
      built from, and returns ``(written, part_count)`` as they would; both effects become
      visible together (a crash or an error leaves neither), so a reader that sees the part
      counted also sees the result stored.
    - Storage failures are raised as ``errors.StorageError`` subclasses.
    """

    def store_part(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]: ...


class Serializer(Protocol):
    """Turns values into a payload and back (Celery's result serializer, in the bridge).

    ``dumps`` returns ``(content_type, content_encoding, payload)``; ``content_encoding`` is
    ``"binary"`` when the payload is bytes that are not text. ``loads`` reverses it.
    """

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]: ...

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any: ...


class Clock(Protocol):
    """Tells the time, always timezone-aware (UTC)."""

    def now(self) -> datetime: ...


class KeyValueStore(Protocol):
    """A cache-like store of values under short string keys (the ``django-cache`` backend's).

    Contract:
    - Keys are ``str``; callers keep them to printable ASCII without spaces and at most
      ``max_key_length`` characters (``keyvalue.KeyNaming`` does), which every store accepts.
    - Values are any picklable object except None (a missing key reads as None); they read back
      equal (and of the same type) to what was written: exceptions, datetimes, bytes, ints.
    - ``timeout`` is the lifetime in seconds, a number > 0, or None for "never expire"; a store
      may evict earlier (a cache under memory pressure), never keep longer.
    - ``get(key)`` returns the value or None. ``get_many(keys)`` returns a mapping holding only
      the keys that are stored, in one round trip to the server.
    - ``set(key, value, timeout)`` stores the value, replacing any other.
    - ``add(key, value, timeout)`` stores it only if the key is absent (or expired) and returns
      whether it did; where ``atomic_add`` is declared, of several concurrent ``add`` calls for
      one key exactly one returns True.
    - ``delete(key)`` and ``delete_many(keys)`` remove keys; absent keys are not an error.
    - ``incr(key, delta)`` adds ``delta`` (negative to subtract) to an integer value and returns
      the new value, or None when the key is absent. Where ``atomic_increment`` is declared,
      concurrent callers (threads, processes, hosts sharing the store) cannot interleave: each
      call sees a distinct result. The value never goes below zero on some stores (memcached);
      callers keep counters well above zero.
    - ``touch(key, timeout)`` gives a stored key a new lifetime and returns whether it exists.
    - ``atomic_increment`` and ``atomic_add`` are declared by the adapter for the store it wraps
      (never discovered by trying); ``max_key_length`` is the longest key it stores unchanged.
    - Failures are raised as ``errors.StorageError`` subclasses: ``TransientStorageError`` when
      the server could not be reached or timed out, ``PermanentStorageError`` otherwise.
    """

    @property
    def atomic_increment(self) -> bool: ...

    @property
    def atomic_add(self) -> bool: ...

    @property
    def max_key_length(self) -> int: ...

    def get(self, key: str) -> Any: ...

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]: ...

    def set(self, key: str, value: Any, timeout: float | None) -> None: ...

    def add(self, key: str, value: Any, timeout: float | None) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_many(self, keys: Iterable[str]) -> None: ...

    def incr(self, key: str, delta: int = 1) -> int | None: ...

    def touch(self, key: str, timeout: float | None) -> bool: ...
