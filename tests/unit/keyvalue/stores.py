"""What the key-value unit tests share: metas, id strategies and stores that count or fail."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain.errors import TransientStorageError
from django_celery_results.domain.ports import KeyValueStore
from tests.contract.support import ALL_STATES, PROGRESS
from tests.keyvalue_contract import PRINTABLE

__all__ = [
    "ALL_STATES",
    "KEY_CHARACTERS",
    "PROGRESS",
    "UUID",
    "ClampingStore",
    "CountingStore",
    "FailingIncrementStore",
    "ids",
    "meta",
]

UUID = "d7a8fbb3-07d4-4f1b-8e3f-2b5f3c6f2a10"
#: What a key may consist of: printable ASCII without the space.
KEY_CHARACTERS = set(PRINTABLE)

ids = st.text(min_size=1, max_size=400)


def meta(status: str, result: Any = None, **extra: Any) -> dict[str, Any]:
    """A Celery meta as the bridge stores it."""
    return {"status": status, "result": result, "traceback": None, "children": [], **extra}


class CountingStore:
    """A ``KeyValueStore`` that records every call it passes on to a memory store.

    Args:
        inner: the store that does the work.
    """

    def __init__(self, inner: KeyValueStore | None = None) -> None:
        self.inner = inner or MemoryKeyValueStore()
        self.calls: list[str] = []
        self.atomic_increment = self.inner.atomic_increment
        self.atomic_add = self.inner.atomic_add
        self.max_key_length = self.inner.max_key_length

    def get(self, key: str) -> Any:
        """Record and pass on."""
        self.calls.append("get")
        return self.inner.get(key)

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """Record and pass on."""
        self.calls.append("get_many")
        return self.inner.get_many(keys)

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """Record and pass on."""
        self.calls.append("set")
        self.inner.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """Record and pass on."""
        self.calls.append("add")
        return self.inner.add(key, value, timeout)

    def delete(self, key: str) -> None:
        """Record and pass on."""
        self.calls.append("delete")
        self.inner.delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Record and pass on."""
        self.calls.append("delete_many")
        self.inner.delete_many(keys)

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Record and pass on."""
        self.calls.append("incr")
        return self.inner.incr(key, delta)

    def touch(self, key: str, timeout: float | None) -> bool:
        """Record and pass on."""
        self.calls.append("touch")
        return self.inner.touch(key, timeout)


class ClampingStore(CountingStore):
    """A store whose decrement stops at zero, as memcached's ``decr`` does."""

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta``, but never below zero."""
        value = super().incr(key, delta)
        if value is not None and value < 0:
            self.inner.set(key, 0, None)
            return 0
        return value


class FailingIncrementStore(CountingStore):
    """A store whose increment fails as a lost connection would."""

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Raise TransientStorageError."""
        self.calls.append("incr")
        raise TransientStorageError("connection lost", alias="test")
