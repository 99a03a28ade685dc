"""The memory key-value store honours the ``KeyValueStore`` port's contract."""

from __future__ import annotations

import pytest

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain.ports import KeyValueStore
from tests.keyvalue_contract import KeyValueStoreContract

# -- the memory store honours the port's contract ----------------------------------------


class TestMemoryKeyValueStore(KeyValueStoreContract):
    """MemoryKeyValueStore honours the KeyValueStore contract."""

    @pytest.fixture
    def kv(self) -> KeyValueStore:
        """A fresh memory store."""
        return MemoryKeyValueStore()

    def test_clock_drives_expiry(self) -> None:
        """The store's clock, not the wall clock, decides when a key expires."""
        now = [100.0]
        kv = MemoryKeyValueStore(clock=lambda: now[0])
        kv.set("k", 1, 10)
        now[0] = 109.9
        assert kv.get("k") == 1
        now[0] = 110.0
        assert kv.get("k") is None
        assert kv.incr("k") is None
