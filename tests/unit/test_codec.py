"""The stored-text policy of ``domain.codec``: text as is, binary payloads as base64."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.domain import codec
from django_celery_results.domain.errors import InvalidRecordError
from tests.fakes import JsonSerializer, RawBytesSerializer, RefusingSerializer

#: Any value JSON holds without change on a round trip (no NaN, no tuples, str keys only).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=25,
)


class PickleSerializer:
    """A binary serializer like Celery's ``pickle``: bytes that are not text."""

    content_type = "application/x-python-serialize"

    def dumps(self, value: Any) -> tuple[str, str, str | bytes]:
        """Pickle ``value``."""
        return self.content_type, "binary", pickle.dumps(value, protocol=4)

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Unpickle ``payload`` (test data only)."""
        assert isinstance(payload, bytes)
        return pickle.loads(payload)  # the test's own bytes, never untrusted


def round_trip(serializer: Any, value: Any) -> Any:
    """Encode ``value`` and decode the stored text back."""
    encoded = codec.encode(serializer, value)
    return codec.decode(serializer, encoded.content_type, encoded.content_encoding, encoded.text)


@given(json_values)
def test_json_round_trip(value: Any) -> None:
    """Any JSON-able value comes back equal through a text serializer."""
    assert round_trip(JsonSerializer(), value) == value


@given(json_values)
def test_json_bytes_payload_round_trip(value: Any) -> None:
    """A text serializer that hands over UTF-8 bytes is stored as text and reads back."""
    serializer = JsonSerializer(as_bytes=True)
    encoded = codec.encode(serializer, value)
    assert isinstance(encoded.text, str)
    assert round_trip(serializer, value) == value


@given(json_values)
def test_text_payload_is_stored_as_is(value: Any) -> None:
    """A text serializer's payload is the stored text itself, not base64 of it."""
    content_type, content_encoding, payload = JsonSerializer().dumps(value)
    assert codec.encode(JsonSerializer(), value) == codec.EncodedValue(
        content_type, content_encoding, str(payload)
    )


# min_size=1: an empty payload is stored as "" and "" decodes to None (the documented rule for
# rows with no result); real binary serializers (pickle, msgpack) never produce zero bytes.
@given(st.binary(min_size=1, max_size=4096))
def test_arbitrary_bytes_round_trip(value: bytes) -> None:
    """Any non-empty bytes come back equal through a binary serializer."""
    assert round_trip(RawBytesSerializer(), value) == value


@given(st.binary(max_size=4096))
def test_binary_is_stored_as_ascii_base64(value: bytes) -> None:
    """A binary payload is stored as standard base64 text, which any text column holds."""
    encoded = codec.encode(RawBytesSerializer(), value)
    assert encoded.content_encoding == codec.BINARY
    assert encoded.text.isascii()
    assert base64.b64decode(encoded.text, validate=True) == value


@given(st.binary(min_size=1, max_size=1024))
def test_binary_payload_given_as_str(value: bytes) -> None:
    """A binary payload handed over as latin-1 str is stored as the base64 of its bytes."""
    encoded = codec.encode(RawBytesSerializer(payload_as_str=True), value)
    assert encoded.text == base64.b64encode(value).decode("ascii")
    assert round_trip(RawBytesSerializer(payload_as_str=True), value) == value


@given(json_values)
def test_pickle_round_trip(value: Any) -> None:
    """Values round-trip through a pickle-like binary serializer."""
    assert round_trip(PickleSerializer(), value) == value


def test_old_package_binary_rows_read_back() -> None:
    """A pickle row as the old package stored it (plain base64 text) decodes to the value."""
    text = base64.b64encode(pickle.dumps({"answer": 42})).decode("ascii")
    decoded = codec.decode(PickleSerializer(), PickleSerializer.content_type, "binary", text)
    assert decoded == {"answer": 42}


@pytest.mark.parametrize("quote", ["'", '"'])
def test_bytes_repr_rows_read_back(quote: str) -> None:
    """Rows holding str(bytes) ("b'<base64>'"), as some drivers wrote, decode too."""
    b64 = base64.b64encode(b"\x00\xffpayload").decode("ascii")
    text = f"b{quote}{b64}{quote}"
    assert codec.decode(RawBytesSerializer(), "x", "binary", text) == b"\x00\xffpayload"


@pytest.mark.parametrize("text", [None, ""])
def test_no_text_decodes_to_none(text: str | None) -> None:
    """None and empty text decode to None without calling the serializer."""
    assert codec.decode(RefusingSerializer(), "application/json", "utf-8", text) is None
    assert codec.decode(RefusingSerializer(), "x", "binary", text) is None


@pytest.mark.parametrize("text", ["not base64!", "abc", "b'@@@'", "YQ==YQ=="])
def test_bad_base64_is_an_invalid_record(text: str) -> None:
    """Binary-encoded text that is not base64 raises InvalidRecordError naming the field."""
    with pytest.raises(InvalidRecordError, match=r"^result: .*not base64") as info:
        codec.decode(RefusingSerializer(), "x", "binary", text)
    assert info.value.field == "result"


def test_text_is_passed_to_loads_unchanged() -> None:
    """Text stored by a text serializer reaches loads() as the same str, with its metadata."""
    seen: list[tuple[Any, str, str]] = []

    class Recording(JsonSerializer):
        def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
            seen.append((payload, content_type, content_encoding))
            return json.loads(payload)

    assert codec.decode(Recording(), "application/json", "utf-8", '{"é": "🎉"}') == {"é": "🎉"}
    assert seen == [('{"é": "🎉"}', "application/json", "utf-8")]


def test_encoded_value_is_frozen() -> None:
    """EncodedValue is an immutable value object."""
    encoded = codec.encode(JsonSerializer(), 1)
    with pytest.raises(AttributeError):
        encoded.text = "2"  # type: ignore[misc]
