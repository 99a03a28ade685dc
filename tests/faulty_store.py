"""A ``KeyValueStore`` wrapper that fails chosen calls as a dropped connection would."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from django_celery_results.domain.errors import TransientStorageError
from django_celery_results.domain.ports import KeyValueStore

_T = TypeVar("_T")

#: ``before``: the call raises without reaching the store; ``after``: the store applies it and
#: the reply is lost (it raises all the same); ``ok``: it passes.
Fault = Literal["before", "after", "ok"]


class FaultyStore:
    """Passes every call on to ``inner``, but fails the calls a test scheduled with ``fail``.

    Args:
        inner: the store that does the work (a memory store, or a real cache's).
    """

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.faults: dict[str, list[Fault]] = {}
        self.atomic_increment = inner.atomic_increment
        self.atomic_add = inner.atomic_add
        self.max_key_length = inner.max_key_length

    def fail(self, operation: str, *faults: Fault) -> None:
        """Make the next calls of ``operation`` (``"add"``, ``"incr"``...) go as ``faults`` say."""
        self.faults.setdefault(operation, []).extend(faults)

    def _call(self, operation: str, apply: Callable[[], _T]) -> _T:
        self.calls.append(operation)
        planned = self.faults.get(operation)
        fault = planned.pop(0) if planned else "ok"
        if fault == "before":
            raise TransientStorageError(f"{operation}: connection reset before sending")
        value = apply()
        if fault == "after":
            raise TransientStorageError(f"{operation}: connection reset before the reply")
        return value

    def get(self, key: str) -> Any:
        """Pass on, or fail as scheduled."""
        return self._call("get", lambda: self.inner.get(key))

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        """Pass on, or fail as scheduled."""
        names = list(keys)
        return self._call("get_many", lambda: self.inner.get_many(names))

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """Pass on, or fail as scheduled."""
        self._call("set", lambda: self.inner.set(key, value, timeout))

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """Pass on, or fail as scheduled."""
        return self._call("add", lambda: self.inner.add(key, value, timeout))

    def delete(self, key: str) -> None:
        """Pass on, or fail as scheduled."""
        self._call("delete", lambda: self.inner.delete(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Pass on, or fail as scheduled."""
        names = list(keys)
        self._call("delete_many", lambda: self.inner.delete_many(names))

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Pass on, or fail as scheduled."""
        return self._call("incr", lambda: self.inner.incr(key, delta))

    def touch(self, key: str, timeout: float | None) -> bool:
        """Pass on, or fail as scheduled."""
        return self._call("touch", lambda: self.inner.touch(key, timeout))
