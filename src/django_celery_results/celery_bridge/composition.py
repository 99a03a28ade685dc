"""The composition root: which adapters each backend, and the ORM's model managers, use.

Every adapter this package runs on is chosen here, by Django setting, and nowhere else:

``DJANGO_CELERY_RESULTS_REPOSITORIES`` chooses the repositories of ``django-db``:

- ``"orm"`` (the default): the Django ORM adapter, routed by ``DATABASE_ROUTERS``;
- ``"memory"``: the in-memory adapter, one store per process, for a project's test settings
  that run Celery with no database;
- a dotted path to a callable taking no arguments and returning a ``Repositories``.

``DJANGO_CELERY_RESULTS_KEYVALUE_STORE`` chooses the key-value store of ``django-cache``:

- ``"cache"`` (the default): Django's cache named by the backend's cache alias
  (``CELERY_CACHE_BACKEND``, the default cache otherwise);
- ``"memory"``: the in-memory store, one per cache alias and process, for test settings that
  run Celery with no cache server;
- a dotted path to a callable taking the cache alias (a ``str``) and returning a
  ``KeyValueStore``.

The model managers (``TaskResult.objects`` ...) always write through the ORM repositories: the
app's ``ready()`` hands them ``orm_result_store``. The ORM adapter is imported when it is first
chosen, not with this module: its modules import the models, which need Django's app registry,
and Celery may load a backend (or Django import ``apps.py``) before the registry is ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..adapters.django_cache import DjangoCacheStore
from ..adapters.memory import (
    MemoryChordCounterRepository,
    MemoryGroupRepository,
    MemoryTaskRepository,
)
from ..adapters.memory_keyvalue import MemoryKeyValueStore
from ..domain.clock import SystemClock
from ..domain.ports import (
    ChordCounterRepository,
    ChordPartStore,
    Clock,
    GroupRepository,
    KeyValueStore,
    TaskRepository,
)
from ..domain.results import ResultStore
from ..domain.retention import RetentionTarget

__all__ = [
    "KEYVALUE_SETTING",
    "SETTING",
    "DatabaseStores",
    "Repositories",
    "cache_store",
    "configured_keyvalue_store",
    "configured_repositories",
    "memory_keyvalue_store",
    "memory_repositories",
    "orm_repositories",
    "orm_result_store",
]

#: The setting that chooses the repositories of ``django-db``.
SETTING = "DJANGO_CELERY_RESULTS_REPOSITORIES"
#: The setting that chooses the key-value store of ``django-cache``.
KEYVALUE_SETTING = "DJANGO_CELERY_RESULTS_KEYVALUE_STORE"

_F = TypeVar("_F")


@attrs.frozen
class Repositories:
    """One set of repositories that a backend composes into a ``ResultStore``.

    Attributes:
        tasks: task results.
        groups: group results.
        chords: chord counters.
        parts: stores a header task's result and counts it in one step (optional).
        retention: deletes task results per (state, task name) rule for the retention policy
            (optional: without it only the policy's default age applies, to everything).
    """

    tasks: TaskRepository
    groups: GroupRepository
    chords: ChordCounterRepository
    parts: ChordPartStore | None = None
    retention: RetentionTarget | None = None

    def result_store(self, clock: Clock) -> ResultStore:
        """The use cases over these repositories, dated by ``clock``."""
        return ResultStore(
            tasks=self.tasks,
            groups=self.groups,
            chords=self.chords,
            clock=clock,
            parts=self.parts,
        )


def orm_repositories(using: str | None = None) -> Repositories:
    """The Django ORM repositories; ``using`` pins an alias, None follows the routers."""
    # At first use, not at import: the repositories import the models (see the docstring).
    from ..adapters.django_orm.expiry import TableRetention
    from ..adapters.django_orm.repositories import (
        DjangoChordCounterRepository,
        DjangoChordPartStore,
        DjangoGroupRepository,
        DjangoTaskRepository,
    )

    tasks = DjangoTaskRepository(using=using)
    groups = DjangoGroupRepository(using=using)
    chords = DjangoChordCounterRepository(using=using)
    return Repositories(
        tasks=tasks,
        groups=groups,
        chords=chords,
        parts=DjangoChordPartStore(tasks, chords),
        retention=TableRetention(tasks, groups, chords),
    )


def orm_result_store(using: str | None) -> ResultStore:
    """The ORM's use cases on the real clock: what the model managers write through."""
    return orm_repositories(using).result_store(SystemClock())


_memory_lock = threading.Lock()
_memory: Repositories | None = None
_memory_stores: dict[str, MemoryKeyValueStore] = {}


def memory_repositories() -> Repositories:
    """The process-wide in-memory repositories (every backend in the process shares them)."""
    global _memory
    with _memory_lock:
        if _memory is None:
            _memory = Repositories(
                tasks=MemoryTaskRepository(),
                groups=MemoryGroupRepository(),
                chords=MemoryChordCounterRepository(),
            )
        return _memory


def cache_store(alias: str) -> KeyValueStore:
    """Django's cache ``caches[alias]`` as a key-value store."""
    return DjangoCacheStore(alias)


def memory_keyvalue_store(alias: str) -> KeyValueStore:
    """The process-wide in-memory store standing in for cache ``alias`` (shared by backends)."""
    with _memory_lock:
        return _memory_stores.setdefault(alias, MemoryKeyValueStore())


_NAMED_REPOSITORIES: dict[str, Callable[[], Repositories]] = {
    "orm": orm_repositories,
    "memory": memory_repositories,
}
_NAMED_STORES: dict[str, Callable[[str], KeyValueStore]] = {
    "cache": cache_store,
    "memory": memory_keyvalue_store,
}
#: What a key-value store must have (``ports.KeyValueStore``, which is not runtime-checkable).
_KEYVALUE_MEMBERS = (
    "atomic_increment",
    "atomic_add",
    "max_key_length",
    "get",
    "get_many",
    "set",
    "add",
    "delete",
    "delete_many",
    "incr",
    "touch",
)


def _chosen(setting: str, default: str, named: Mapping[str, _F]) -> tuple[str, _F]:
    """The value of ``setting`` and the factory it names: one of ``named`` or a dotted path."""
    choice = getattr(settings, setting, default)
    names = ", ".join(repr(name) for name in named)
    if not isinstance(choice, str) or not choice:
        raise ImproperlyConfigured(f"{setting} must be {names} or a dotted path, got {choice!r}")
    if choice in named:
        return choice, named[choice]
    try:
        factory: _F = import_string(choice)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{setting} = {choice!r} is neither {names} nor an importable callable: {exc}"
        ) from exc
    return choice, factory


def configured_repositories() -> Repositories:
    """The repositories ``DJANGO_CELERY_RESULTS_REPOSITORIES`` selects (default ``"orm"``)."""
    choice, factory = _chosen(SETTING, "orm", _NAMED_REPOSITORIES)
    repositories = factory()
    if not isinstance(repositories, Repositories):
        raise ImproperlyConfigured(
            f"{SETTING} = {choice!r} returned {type(repositories).__name__}, expected Repositories"
        )
    return repositories


def configured_keyvalue_store(alias: str) -> KeyValueStore:
    """The store ``DJANGO_CELERY_RESULTS_KEYVALUE_STORE`` selects for cache ``alias``."""
    choice, factory = _chosen(KEYVALUE_SETTING, "cache", _NAMED_STORES)
    store = factory(alias)
    missing = [name for name in _KEYVALUE_MEMBERS if not hasattr(store, name)]
    if missing:
        raise ImproperlyConfigured(
            f"{KEYVALUE_SETTING} = {choice!r} returned {type(store).__name__}, expected a "
            f"KeyValueStore (it lacks {', '.join(missing)})"
        )
    return store


class DatabaseStores:
    """The result stores of one ``DatabaseBackend``, each built once.

    ``configured()`` is the store over the repositories the setting selects, built at first
    use (after Django's setup); ``for_alias(alias)`` the ORM's on one database alias, for the
    old backend's ``using=`` keyword.

    Args:
        clock: the source of every stored date (the Celery app's clock).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._configured: ResultStore | None = None
        self._pinned: dict[str, ResultStore] = {}
        self._lock = threading.Lock()

    def configured(self) -> ResultStore:
        """The use cases over the configured repositories."""
        if self._configured is None:
            self._configured = configured_repositories().result_store(self._clock)
        return self._configured

    def for_alias(self, using: str | None) -> ResultStore:
        """The configured store, or the ORM's pinned to ``using`` when an alias is given."""
        if using is None:
            return self.configured()
        with self._lock:
            store = self._pinned.get(using)
            if store is None:
                store = self._pinned[using] = orm_repositories(using).result_store(self._clock)
            return store
