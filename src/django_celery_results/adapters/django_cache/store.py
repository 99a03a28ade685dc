"""``DjangoCacheStore``: the ``KeyValueStore`` port over ``django.core.cache.caches[alias]``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.cache.backends.base import InvalidCacheKey
from django.core.exceptions import ImproperlyConfigured
from django.db import router

from ...domain.errors import PermanentStorageError, TransientStorageError
from ...domain.keyvalue import DEFAULT_MAX_KEY_LENGTH
from .errors import translated_errors

__all__ = ["ATOMIC_ADD", "ATOMIC_INCREMENT", "SILENT_WRITE_FAILURES", "DjangoCacheStore"]

#: Cache classes that do an increment or an ``add`` as one step: Redis (``INCRBY``, ``SET NX``),
#: memcached (``incr``/``decr``, ``add``) and the local-memory cache under its lock (within its
#: one process).
_ONE_STEP: Final = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django.core.cache.backends.locmem.LocMemCache",
    "django_redis.cache.RedisCache",
)
#: Cache classes that read, then write: ``BaseCache.incr`` (database and file caches) lets two
#: callers both read 3 and both write 4; the database cache's ``add`` reads then inserts or
#: updates (an expired row can be replaced twice); the file cache checks the file, then writes.
_READ_THEN_WRITE: Final = (
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.dummy.DummyCache",
)

#: Cache classes whose increment concurrent callers cannot interleave. Unknown classes count
#: as not atomic, which only costs chords the polling unlock task.
ATOMIC_INCREMENT: Final = {
    **dict.fromkeys(_ONE_STEP, True),
    **dict.fromkeys(_READ_THEN_WRITE, False),
}

#: Cache classes whose ``add`` lets exactly one of concurrent callers store a key (the same
#: classes as ``ATOMIC_INCREMENT`` today; kept apart, as they answer different questions).
ATOMIC_ADD: Final = {**dict.fromkeys(_ONE_STEP, True), **dict.fromkeys(_READ_THEN_WRITE, False)}


#: Cache classes that swallow a failed write: ``DatabaseCache`` catches every ``DatabaseError``
#: of ``set``/``add`` (a lost connection, SQLite's "database is locked") and reports nothing.
#: For them ``set`` and ``add`` go through the method that returns whether the write happened,
#: and a write that did not happen is raised as a transient error instead of being lost.
SILENT_WRITE_FAILURES: Final = {
    "django.core.cache.backends.db.DatabaseCache": True,
}


def _declared(table: Mapping[str, bool], cache_class: type[Any]) -> bool:
    # The most derived known class decides, so a project's subclass of RedisCache keeps it.
    for klass in cache_class.__mro__:
        verdict = table.get(f"{klass.__module__}.{klass.__qualname__}")
        if verdict is not None:
            return verdict
    return False


class DjangoCacheStore:
    """Values in one of Django's configured caches.

    The cache object is looked up on every call (``caches[alias]`` is per thread in Django,
    and so are its client connections), so one store serves every thread of a worker.

    Args:
        alias: the key of ``settings.CACHES`` to use.
        atomic_increment: overrides the capability declared for the cache's class (for a
            third-party cache this adapter does not know).
        atomic_add: the same for ``add``.

    Raises:
        ImproperlyConfigured: when ``alias`` is not in ``settings.CACHES``.
    """

    def __init__(
        self,
        alias: str = DEFAULT_CACHE_ALIAS,
        *,
        atomic_increment: bool | None = None,
        atomic_add: bool | None = None,
    ) -> None:
        if alias not in settings.CACHES:
            raise ImproperlyConfigured(
                f"The cache {alias!r} is not configured: settings.CACHES has "
                f"{', '.join(map(repr, settings.CACHES)) or 'no caches'}"
            )
        self.alias = alias
        cache_class = type(self.cache)
        self._atomic_increment = (
            _declared(ATOMIC_INCREMENT, cache_class)
            if atomic_increment is None
            else atomic_increment
        )
        self._atomic_add = _declared(ATOMIC_ADD, cache_class) if atomic_add is None else atomic_add
        self._silent_write_failures = _declared(SILENT_WRITE_FAILURES, cache_class)

    @property
    def cache(self) -> BaseCache:
        """The Django cache object of this thread."""
        return caches[self.alias]

    @property
    def atomic_increment(self) -> bool:
        """Whether ``incr`` is one step that concurrent callers cannot interleave."""
        return self._atomic_increment

    @property
    def atomic_add(self) -> bool:
        """Whether of concurrent ``add`` calls for one key exactly one stores it."""
        return self._atomic_add

    @property
    def max_key_length(self) -> int:
        """250 characters (memcached's limit) less what the cache adds (``KEY_PREFIX:1:``)."""
        return DEFAULT_MAX_KEY_LENGTH - len(self.cache.make_key(""))

    def get(self, key: str) -> Any:
        """The value under ``key``, or None."""
        with self._errors():
            return self.cache.get(key)

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """The stored values among ``keys``, in one round trip.

        Redis ``MGET``, memcached ``get_multi``, one ``SELECT`` on the database cache.
        """
        keys = list(keys)
        if not keys:
            return {}
        with self._errors():
            return self.cache.get_many(keys)

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """Store ``value`` for ``timeout`` seconds (None: never expire)."""
        timeout = _checked(timeout)
        with self._errors():
            if self._silent_write_failures:
                if not self._reported_write("set", key, value, timeout):
                    raise self._lost_write("set", key)
                return
            self.cache.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it did."""
        timeout = _checked(timeout)
        with self._errors():
            if self._silent_write_failures:
                if self._reported_write("add", key, value, timeout):
                    return True
                # Not added: the key is there, or the write failed (told apart by a read).
                if self.cache.get(key) is None:
                    raise self._lost_write("add", key)
                return False
            return bool(self.cache.add(key, value, timeout))

    def delete(self, key: str) -> None:
        """Remove ``key``; an absent key is not an error."""
        with self._errors():
            self.cache.delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key of ``keys`` in one round trip."""
        keys = list(keys)
        if keys:
            with self._errors():
                self.cache.delete_many(keys)

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to the integer under ``key``; None when the key is absent."""
        with self._errors():
            try:
                value = self.cache.incr(key, delta)
            except TypeError as exc:
                # The local-memory, database and file caches add to whatever is stored.
                raise PermanentStorageError(
                    f"the value under {key!r} is not an integer ({exc})", alias=self.alias
                ) from exc
            except InvalidCacheKey:
                raise
            except ValueError:
                # Django's documented signal for an absent key ("Key '...' not found").
                return None
        return int(value)

    def touch(self, key: str, timeout: float | None) -> bool:
        """Give ``key`` a new lifetime; return whether it exists."""
        with self._errors():
            return bool(self.cache.touch(key, _checked(timeout)))

    def _reported_write(self, mode: str, key: str, value: Any, timeout: float | None) -> bool:
        # DatabaseCache.set() drops _base_set's answer; _base_set (in Django since 1.x) gives it.
        cache: Any = self.cache
        return bool(cache._base_set(mode, cache.make_and_validate_key(key), value, timeout))

    def _lost_write(self, mode: str, key: str) -> TransientStorageError:
        return TransientStorageError(
            f"the {type(self.cache).__name__} dropped the {mode} of {key!r}: it hides the "
            "database error (a lost connection, a lock such as SQLite's 'database is locked')",
            alias=self.alias,
        )

    def _errors(self) -> Any:
        return translated_errors(self.alias, self._database_alias)

    def _database_alias(self) -> str | None:
        model = getattr(self.cache, "cache_model_class", None)
        return None if model is None else router.db_for_write(model)


def _checked(timeout: float | None) -> float | None:
    # Django reads 0 (and less) as "expire at once", which would silently store nothing.
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds or None (never expire), got {timeout}")
    return timeout
