"""Celery's key-value primitives (``KeyValueStoreBackend``'s) over our store, on string keys.

Celery's ``KeyValueStoreBackend`` names keys and reads and writes them through a handful of
hooks (``get``, ``mget``, ``set``, ``delete``, ``incr``, ``expire``, ``get_key_for_*``,
``encode``/``decode``). ``KeyValueHooks`` implements them once over the backend's
``KeyValueStore`` and key-value use cases, with ids and keys as text (``cache_values``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from celery import Celery

from ..domain import keyvalue
from ..domain.ports import KeyValueStore
from .cache_values import text, text_id

__all__ = ["KeyValueHooks"]


class KeyValueHooks:
    """Mixed into ``CacheBackend`` before Celery's ``KeyValueStoreBackend``.

    The backend provides ``store`` (its key-value store) and ``results`` (the use cases over
    it, whose key naming and stored values these hooks follow).
    """

    #: Set by Celery's ``Backend.__init__``.
    app: Celery
    expires: float | timedelta | None

    @property
    def store(self) -> KeyValueStore:
        """The key-value store behind the backend."""
        raise NotImplementedError

    @property
    def results(self) -> keyvalue.KeyValueResultStore:
        """The use cases over the store."""
        raise NotImplementedError

    @property
    def _lifetime(self) -> float | None:
        return keyvalue.lifetime(self.expires)

    @property
    def _chord_lifetime(self) -> float | None:
        return keyvalue.chord_lifetime(self.expires, self.app.conf.get("result_chord_expires"))

    def get_key_for_task(self, task_id: str, key: str = "") -> str:
        """The key of a task's meta (Celery's ``celery-task-meta-<id>`` for plain ids)."""
        return self.results.naming.task_key(text_id("task_id", task_id) + text(key))

    def get_key_for_group(self, group_id: str, key: str = "") -> str:
        """The key of a saved group."""
        return self.results.naming.group_key(text_id("group_id", group_id) + text(key))

    def get_key_for_chord(self, group_id: str, key: str = "") -> str:
        """The key of a chord's counter."""
        return self.results.naming.chord_key(text_id("group_id", group_id) + text(key))

    def encode(self, data: Any) -> Any:
        """``data`` as stored: as it is (the cache pickles it), or serialized text."""
        return self.results.values.dump(data)

    def decode(self, payload: Any) -> Any:
        """A stored value back: as it is, or decoded from text within ``accept_content``."""
        return self.results.values.load(payload, "<payload>")

    def get(self, key: str | bytes) -> Any:
        """The value under ``key``, or None."""
        return self.store.get(text(key))

    def mget(self, keys: Iterable[str | bytes]) -> list[Any]:
        """The values under ``keys``, in order (None where absent), in one round trip."""
        names = [text(key) for key in keys]
        found = self.store.get_many(names)
        return [found.get(name) for name in names]

    def set(self, key: str | bytes, value: Any) -> None:
        """Store ``value`` under ``key`` for ``result_expires`` (0 or None: never expire)."""
        self.store.set(text(key), value, self._lifetime)

    def delete(self, key: str | bytes) -> None:
        """Remove ``key``; an absent key is not an error."""
        self.store.delete(text(key))

    def incr(self, key: str | bytes) -> int:
        """Add one to the counter under ``key`` (created at 1 when absent) and return it."""
        name = text(key)
        value = self.store.incr(name, 1)
        if value is None:
            if self.store.add(name, 1, self._lifetime):
                return 1
            value = self.store.incr(name, 1)
        return int(value or 0)

    def expire(self, key: str | bytes, value: float | timedelta | None) -> None:
        """Give ``key`` a lifetime of ``value`` seconds (0 or None: never expire)."""
        self.store.touch(text(key), keyvalue.lifetime(value))
