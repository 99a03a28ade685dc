"""The fixtures of the key-value unit tests: a store that counts its calls, and the use cases."""

from __future__ import annotations

import pytest

from django_celery_results.domain.keyvalue import KeyValueResultStore
from tests.unit.keyvalue.stores import CountingStore


@pytest.fixture
def store() -> CountingStore:
    """An empty memory store that counts its calls."""
    return CountingStore()


@pytest.fixture
def results(store: CountingStore) -> KeyValueResultStore:
    """The use cases over that store."""
    return KeyValueResultStore(store)
