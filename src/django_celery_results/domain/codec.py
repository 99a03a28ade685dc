"""How values become stored text and back: the serializer is a port, the text policy is here.

Stored columns are text. A serializer that produces text (JSON, YAML) is stored as is; one that
produces bytes with ``content_encoding == "binary"`` (pickle, msgpack) is stored as base64 text,
which is what the old package wrote, so its rows read back unchanged.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import attrs

from .errors import InvalidRecordError
from .ports import Serializer

__all__ = [
    "BINARY",
    "EncodedValue",
    "decode",
    "encode",
]

BINARY: str = "binary"


@attrs.frozen
class EncodedValue:
    """A value in its stored form.

    Attributes:
        content_type: the serializer's content type, e.g. ``application/json``.
        content_encoding: ``utf-8`` for text serializers, ``binary`` for base64 text.
        text: the stored text.
    """

    content_type: str
    content_encoding: str
    text: str


def encode(serializer: Serializer, value: Any) -> EncodedValue:
    """Serialize ``value`` and turn the payload into storable text."""
    content_type, content_encoding, payload = serializer.dumps(value)
    if content_encoding == BINARY:
        raw = payload.encode("latin-1") if isinstance(payload, str) else payload
        text = base64.b64encode(raw).decode("ascii")
    elif isinstance(payload, bytes):
        text = payload.decode(content_encoding or "utf-8")
    else:
        text = payload
    return EncodedValue(content_type, content_encoding, text)


def decode(
    serializer: Serializer,
    content_type: str,
    content_encoding: str,
    text: str | None,
    *,
    field: str = "result",
) -> Any:
    """Turn stored text back into the value; None and empty text decode to None.

    ``field`` names the stored field in the error raised for text that is not base64.
    """
    if not text:
        return None
    payload: str | bytes = text
    if content_encoding == BINARY:
        try:
            payload = base64.b64decode(_strip_bytes_repr(text), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRecordError(
                field, f"stored as binary but is not base64 text ({exc})"
            ) from exc
    return serializer.loads(payload, content_type, content_encoding)


def _strip_bytes_repr(text: str) -> str:
    # Django turns a bytes value given to a TextField into ``str(value)``, so rows written by
    # the old package through some drivers hold "b'<base64>'" rather than "<base64>".
    if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        return text[2:-1]
    return text
