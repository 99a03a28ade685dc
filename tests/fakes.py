"""Hand-written fakes that honour the domain's ports: a settable clock and two serializers.

They are plain classes (no mocks) so ``tests/typing/check_ports.py`` can prove with mypy that
they satisfy ``Clock`` and ``Serializer``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "EPOCH",
    "FrozenClock",
    "JsonSerializer",
    "RawBytesSerializer",
    "RefusingSerializer",
]

#: An instant with non-zero microseconds, so any storage that drops them fails loudly.
EPOCH = datetime(2024, 5, 17, 12, 34, 56, 789012, tzinfo=timezone.utc)


class FrozenClock:
    """A ``Clock`` that tells the time a test set, and moves only when told to.

    Args:
        now: the first instant it tells; must be timezone-aware.
    """

    def __init__(self, now: datetime = EPOCH) -> None:
        self._now = _aware(now)

    def now(self) -> datetime:
        """The instant last set."""
        return self._now

    def set(self, now: datetime) -> None:
        """Make ``now()`` return ``now`` from here on."""
        self._now = _aware(now)

    def advance(self, delta: timedelta = timedelta(microseconds=1)) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant."""
        self._now += delta
        return self._now


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"FrozenClock needs a timezone-aware datetime, got {value!r}")
    return value


class JsonSerializer:
    """A text ``Serializer`` like kombu's ``json``: str payloads encoded as ``utf-8``.

    Args:
        as_bytes: return the payload as UTF-8 bytes instead of str (some serializers do).
    """

    content_type = "application/json"

    def __init__(self, *, as_bytes: bool = False) -> None:
        self._as_bytes = as_bytes

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]:
        """Serialize ``value`` as compact JSON, keeping non-ASCII characters as they are."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return self.content_type, "utf-8", text.encode("utf-8") if self._as_bytes else text

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Parse the JSON ``payload``."""
        assert content_type == self.content_type, content_type
        return json.loads(payload)


class RawBytesSerializer:
    """A binary ``Serializer`` whose payload is the value itself: bytes in, bytes out.

    It stands in for pickle or msgpack (``content_encoding == "binary"``) and lets a test push
    arbitrary bytes through the codec's base64 policy.

    Args:
        payload_as_str: hand the payload over as a latin-1 ``str`` (one byte per character),
            as some serializers do, instead of ``bytes``.
    """

    content_type = "application/x-raw-bytes"

    def __init__(self, *, payload_as_str: bool = False) -> None:
        self._payload_as_str = payload_as_str

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]:
        """Return ``value`` (which must be bytes) as the binary payload."""
        if not isinstance(value, bytes):
            raise TypeError(f"RawBytesSerializer serializes bytes only, got {type(value)!r}")
        payload: str | bytes = value.decode("latin-1") if self._payload_as_str else value
        return self.content_type, "binary", payload

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Return the payload bytes unchanged."""
        assert content_encoding == "binary", content_encoding
        assert isinstance(payload, bytes), type(payload)
        return payload


class RefusingSerializer:
    """A ``Serializer`` that fails if used: proves a code path never (de)serializes."""

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]:
        """Fail: nothing should be serialized here."""
        raise AssertionError(f"dumps({value!r}) was not expected")

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Fail: nothing should be deserialized here."""
        raise AssertionError(f"loads({payload!r}) was not expected")
