"""An in-memory ``KeyValueStore``: thread-safe, public, for tests that run without a cache.

It passes the same contract tests as the Django cache adapter. Values are pickled on the way in
and out, as every Django cache does, so a caller mutating a value after ``set`` changes nothing
stored and an unpicklable value fails here as it would in production.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..domain.errors import PermanentStorageError
from ..domain.keyvalue import DEFAULT_MAX_KEY_LENGTH

__all__ = [
    "MemoryKeyValueStore",
]


class MemoryKeyValueStore:
    """Values in a dict guarded by a lock, each with an optional deadline.

    Args:
        clock: seconds on a monotonic scale (``time.monotonic`` by default); a test passes its
            own to move time forward without sleeping.
        max_key_length: the longest key it declares to store unchanged.
    """

    atomic_increment = True
    atomic_add = True

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_key_length: int = DEFAULT_MAX_KEY_LENGTH,
    ) -> None:
        self._clock = clock
        self._max_key_length = max_key_length
        self._lock = threading.Lock()
        self._values: dict[str, tuple[bytes, float | None]] = {}

    @property
    def max_key_length(self) -> int:
        """The longest key this store declares it takes unchanged."""
        return self._max_key_length

    def get(self, key: str) -> Any:
        """The value under ``key``, or None."""
        with self._lock:
            raw = self._live(key)
        return None if raw is None else pickle.loads(raw)

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """The stored values among ``keys``."""
        with self._lock:
            found = {key: raw for key in set(keys) if (raw := self._live(key)) is not None}
        return {key: pickle.loads(raw) for key, raw in found.items()}

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """Store ``value`` under ``key`` for ``timeout`` seconds (None: forever)."""
        raw = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._values[key] = (raw, self._deadline(timeout))

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it did."""
        raw = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._live(key) is not None:
                return False
            self._values[key] = (raw, self._deadline(timeout))
            return True

    def delete(self, key: str) -> None:
        """Remove ``key``; an absent key is not an error."""
        with self._lock:
            self._values.pop(key, None)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key of ``keys``."""
        with self._lock:
            for key in keys:
                self._values.pop(key, None)

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to the integer under ``key`` and return it; None when absent."""
        with self._lock:
            entry = self._values.get(key)
            if entry is None or self._live(key) is None:
                return None
            value = pickle.loads(entry[0])
            if isinstance(value, bool) or not isinstance(value, int):
                raise PermanentStorageError(f"the value under {key!r} is not an integer")
            value += delta
            self._values[key] = (pickle.dumps(value, pickle.HIGHEST_PROTOCOL), entry[1])
            return int(value)

    def touch(self, key: str, timeout: float | None) -> bool:
        """Give ``key`` a new lifetime; return whether it exists."""
        with self._lock:
            raw = self._live(key)
            if raw is None:
                return False
            self._values[key] = (raw, self._deadline(timeout))
            return True

    def _deadline(self, timeout: float | None) -> float | None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds or None (never expire), got {timeout}")
        return None if timeout is None else self._clock() + timeout

    def _live(self, key: str) -> bytes | None:
        # Called with the lock held; drops an expired entry on the way.
        entry = self._values.get(key)
        if entry is None:
            return None
        raw, deadline = entry
        if deadline is not None and self._clock() >= deadline:
            del self._values[key]
            return None
        return raw
