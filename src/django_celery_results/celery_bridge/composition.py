"""Chooses the repositories a backend uses, from Django settings.

``DJANGO_CELERY_RESULTS_REPOSITORIES`` selects them:

- ``"orm"`` (the default): the Django ORM adapter, routed by ``DATABASE_ROUTERS``;
- ``"memory"``: the in-memory adapter, one store per process, for a project's test settings
  that run Celery with no database;
- a dotted path to a callable taking no arguments and returning a ``Repositories``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..domain.ports import (
    ChordCounterRepository,
    ChordPartStore,
    GroupRepository,
    TaskRepository,
)

SETTING = "DJANGO_CELERY_RESULTS_REPOSITORIES"


@attrs.frozen
class Repositories:
    """One set of repositories that a backend composes into a ``ResultStore``.

    Attributes:
        tasks: task results.
        groups: group results.
        chords: chord counters.
        parts: stores a header task's result and counts it in one step (optional).
    """

    tasks: TaskRepository
    groups: GroupRepository
    chords: ChordCounterRepository
    parts: ChordPartStore | None = None


def orm_repositories(using: str | None = None) -> Repositories:
    """The Django ORM repositories; ``using`` pins an alias, None follows the routers."""
    from ..adapters.django_orm.repositories import (
        DjangoChordCounterRepository,
        DjangoChordPartStore,
        DjangoGroupRepository,
        DjangoTaskRepository,
    )

    tasks = DjangoTaskRepository(using=using)
    chords = DjangoChordCounterRepository(using=using)
    return Repositories(
        tasks=tasks,
        groups=DjangoGroupRepository(using=using),
        chords=chords,
        parts=DjangoChordPartStore(tasks, chords),
    )


_memory_lock = threading.Lock()
_memory: Repositories | None = None


def memory_repositories() -> Repositories:
    """The process-wide in-memory repositories (every backend in the process shares them)."""
    global _memory
    from ..adapters.memory import (
        MemoryChordCounterRepository,
        MemoryGroupRepository,
        MemoryTaskRepository,
    )

    with _memory_lock:
        if _memory is None:
            _memory = Repositories(
                tasks=MemoryTaskRepository(),
                groups=MemoryGroupRepository(),
                chords=MemoryChordCounterRepository(),
            )
        return _memory


_NAMED: dict[str, Callable[[], Repositories]] = {
    "orm": orm_repositories,
    "memory": memory_repositories,
}


def configured_repositories() -> Repositories:
    """The repositories ``DJANGO_CELERY_RESULTS_REPOSITORIES`` selects (default ``"orm"``)."""
    choice = getattr(settings, SETTING, "orm")
    if not isinstance(choice, str) or not choice:
        raise ImproperlyConfigured(
            f"{SETTING} must be 'orm', 'memory' or a dotted path, got {choice!r}"
        )
    if choice in _NAMED:
        return _NAMED[choice]()
    try:
        factory = import_string(choice)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING} = {choice!r} is neither 'orm', 'memory' nor an importable callable: {exc}"
        ) from exc
    repositories = factory()
    if not isinstance(repositories, Repositories):
        raise ImproperlyConfigured(
            f"{SETTING} = {choice!r} returned {type(repositories).__name__}, expected Repositories"
        )
    return repositories
