"""Static proof that every key-value store satisfies ``KeyValueStore``: mypy checks this.

Like ``check_ports.py``: each assignment type-checks only if the class matches the Protocol
structurally, and the ``type: ignore[assignment]`` line is a negative check that mypy's
``warn_unused_ignores`` turns into an error if it ever stops failing. pytest never runs it.
"""

from __future__ import annotations

from django_celery_results.adapters.django_cache import DjangoCacheStore
from django_celery_results.adapters.memory import MemoryTaskRepository
from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain.ports import KeyValueStore

__all__: list[str] = []

_memory: KeyValueStore = MemoryKeyValueStore()
_django_cache: KeyValueStore = DjangoCacheStore("default")

# -- negative check: a repository is not a key-value store --------------------------------
_not_a_store: KeyValueStore = MemoryTaskRepository()  # type: ignore[assignment]
