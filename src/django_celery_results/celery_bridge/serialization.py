"""The domain's Serializer port over kombu's serializer registry (Celery's result_serializer)."""

from __future__ import annotations

from typing import Any

from kombu.serialization import dumps, loads

__all__ = ["KombuSerializer"]


class KombuSerializer:
    """Serializes with one kombu serializer; deserializes whatever content type a row says.

    Reading by the row's own content type (not the current setting) keeps results readable
    after ``result_serializer`` changes, within the ``accept`` list.
    """

    def __init__(self, serializer: str, accept: set[str] | frozenset[str] | None) -> None:
        self._serializer = serializer
        self._accept = accept

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]:
        """Serialize ``value`` with the configured serializer."""
        content_type, content_encoding, payload = dumps(value, serializer=self._serializer)
        return content_type, content_encoding, payload

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Deserialize a stored payload of any accepted content type."""
        return loads(payload, content_type, content_encoding, accept=self._accept)
