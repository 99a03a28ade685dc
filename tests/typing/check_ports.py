"""Static proof that every adapter satisfies every port: mypy checks this, pytest never runs it.

Each assignment below type-checks only if the class matches the Protocol structurally (adapters
do not inherit from ports). The ``type: ignore[assignment]`` lines are the negative checks:
mypy's ``warn_unused_ignores`` (strict) fails if one of them ever stops being an error, so the
positive checks cannot pass vacuously.

The file name does not match ``test_*.py`` and ``pytest.ini`` skips ``tests/typing`` too.
"""

from __future__ import annotations

from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoChordPartStore,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.adapters.memory import (
    MemoryChordCounterRepository,
    MemoryChordPartStore,
    MemoryGroupRepository,
    MemoryTaskRepository,
    SystemClock,
)
from django_celery_results.celery_bridge.serialization import KombuSerializer
from django_celery_results.domain.ports import (
    ChordCounterRepository,
    ChordPartStore,
    Clock,
    GroupRepository,
    Serializer,
    TaskRepository,
)
from tests.fakes import FrozenClock, JsonSerializer, RawBytesSerializer, RefusingSerializer

__all__: list[str] = []

# -- memory ----------------------------------------------------------------------------------
_memory_tasks: TaskRepository = MemoryTaskRepository()
_memory_groups: GroupRepository = MemoryGroupRepository()
_memory_chords: ChordCounterRepository = MemoryChordCounterRepository()
_memory_parts: ChordPartStore = MemoryChordPartStore(
    MemoryTaskRepository(), MemoryChordCounterRepository()
)
_system_clock: Clock = SystemClock()

# -- Django ORM ------------------------------------------------------------------------------
_orm_tasks: TaskRepository = DjangoTaskRepository()
_orm_groups: GroupRepository = DjangoGroupRepository()
_orm_chords: ChordCounterRepository = DjangoChordCounterRepository()
_orm_parts: ChordPartStore = DjangoChordPartStore(
    DjangoTaskRepository(), DjangoChordCounterRepository()
)

# -- Celery bridge ---------------------------------------------------------------------------
_kombu: Serializer = KombuSerializer("json", accept={"application/json"})

# -- test fakes ------------------------------------------------------------------------------
_frozen_clock: Clock = FrozenClock()
_json: Serializer = JsonSerializer()
_raw: Serializer = RawBytesSerializer()
_refusing: Serializer = RefusingSerializer()

# -- negative checks: the ports are not interchangeable ---------------------------------------
_not_tasks: TaskRepository = MemoryGroupRepository()  # type: ignore[assignment]
_not_groups: GroupRepository = MemoryChordCounterRepository()  # type: ignore[assignment]
_not_chords: ChordCounterRepository = MemoryTaskRepository()  # type: ignore[assignment]
_not_clock: Clock = JsonSerializer()  # type: ignore[assignment]
_not_parts: ChordPartStore = DjangoChordCounterRepository()  # type: ignore[assignment]
_not_memory_parts: ChordPartStore = MemoryChordCounterRepository()  # type: ignore[assignment]
