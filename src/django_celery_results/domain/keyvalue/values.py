"""How the key-value results keep values: their stored form, their lifetime, their precedence.

Values are Python objects or serialized text (``StoredValues``): objects by default (the store
pickles them, as the old package's did), or text in the result serializer's content type, read
back only where that type is accepted, so the store's content is not trusted. ``lifetime`` and
``chord_lifetime`` turn Celery's expiry settings into store timeouts; ``may_replace`` applies
the transition policy (``states.may_overwrite``) to stored metas.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import attrs

from .. import codec, states
from ..errors import InvalidRecordError
from ..ports import Serializer

__all__ = [
    "PICKLE_CONTENT_TYPE",
    "TEXT_MARK",
    "Meta",
    "StoredValues",
    "as_meta",
    "chord_lifetime",
    "lifetime",
    "may_replace",
    "status_of",
]

#: A task's Celery meta (the mapping ``AsyncResult`` reads: ``status``, ``result``, ...).
Meta = Mapping[str, Any]


def lifetime(expires: float | timedelta | None) -> float | None:
    """The store timeout for Celery's ``result_expires``: None (never expire) for 0 or None.

    Django reads a timeout of 0 as "do not store at all", which made the old package keep
    nothing when ``result_expires = 0``; here 0, None and negative values all mean "keep".
    """
    if isinstance(expires, timedelta):
        expires = expires.total_seconds()
    if expires is None or expires <= 0:
        return None
    return expires


def chord_lifetime(
    result_expires: float | timedelta | None, chord_expires: float | timedelta | None
) -> float | None:
    """The lifetime of a chord's counter, part marks and saved header.

    The longer of ``result_chord_expires`` (``result_expires`` when it is None) and
    ``result_expires``: the last header task joins every header result, so the chord's own
    keys must not go before them. None (never expire) when either never expires.
    """
    results = lifetime(result_expires)
    chord = results if chord_expires is None else lifetime(chord_expires)
    if results is None or chord is None:
        return None
    return max(results, chord)


def status_of(meta: Any) -> str | None:
    """The state name a stored meta holds, or None when it is not a meta with a status."""
    if isinstance(meta, Mapping):
        status = meta.get("status")
        if isinstance(status, str) and status:
            return status
    return None


def may_replace(stored: Any, incoming_status: str) -> bool:
    """Whether a meta in ``incoming_status`` may replace the ``stored`` one (None: nothing).

    ``states.may_overwrite`` applied to stored metas; a value without a status (not a meta)
    never blocks.
    """
    return states.may_overwrite(status_of(stored), incoming_status)


#: The first line of a value stored as serialized text (then its content type, its content
#: encoding and the payload, one line each but the payload). Never a Celery key or id prefix.
TEXT_MARK: Final = "django-celery-results:text:1"

#: The content type of pickle: reading a stored Python object trusts the cache's pickle.
PICKLE_CONTENT_TYPE: Final = "application/x-python-serialize"


@attrs.frozen(kw_only=True)
class StoredValues:
    """How metas and saved groups are kept in the store: as Python objects or as text.

    As objects (the default, and what the old package did), the store pickles them itself, so
    whoever can write to it can make every reader unpickle, whatever the serializer settings.
    As text, values are serialized by ``serializer`` (Celery's ``result_serializer``) and read
    back only if their content type is accepted (``accept_content``), with the text policy of
    ``codec`` (binary payloads as base64). Counters and part marks are plain integers either way.

    Attributes:
        serializer: serializes text entries and reads them back by their own content type,
            refusing what it does not accept. None: text entries cannot be read.
        write_text: store new values as serialized text rather than as Python objects.
        read_objects: read values stored as Python objects (by the object mode: before the
            switch to text, or by the old package). When False such a value is refused with
            an InvalidRecordError naming its key.
    """

    serializer: Serializer | None = None
    write_text: bool = False
    read_objects: bool = True

    def __attrs_post_init__(self) -> None:
        if self.write_text and self.serializer is None:
            raise InvalidRecordError("serializer", "storing values as text needs a serializer")

    def dump(self, value: Any) -> Any:
        """``value`` in its stored form."""
        if not self.write_text or self.serializer is None:
            return value
        encoded = codec.encode(self.serializer, value)
        return f"{TEXT_MARK}\n{encoded.content_type}\n{encoded.content_encoding}\n{encoded.text}"

    def load(self, stored: Any, key: str) -> Any:
        """The value ``stored`` under ``key`` (None stays None).

        Raises:
            InvalidRecordError: for a value of a kind this policy does not read: a Python
                object when ``read_objects`` is False, malformed text, or text with no
                serializer. A serializer's own refusal (content not accepted) propagates.
        """
        if stored is None:
            return None
        if isinstance(stored, str) and stored.startswith(TEXT_MARK + "\n"):
            return self._load_text(stored, key)
        if not self.read_objects:
            raise InvalidRecordError(
                "value",
                f"the value under {key!r} is a {type(stored).__name__} stored as a Python object "
                "(pickled by the cache: written before results were stored as serialized text, "
                "or by the old package), and pickle is not an accepted content type: refused",
            )
        return stored

    def _load_text(self, stored: str, key: str) -> Any:
        parts = stored.split("\n", 3)
        if len(parts) != 4:
            raise InvalidRecordError("value", f"the text under {key!r} is truncated")
        _, content_type, content_encoding, text = parts
        if self.serializer is None:
            raise InvalidRecordError(
                "value", f"the value under {key!r} is serialized text and no serializer is set"
            )
        return codec.decode(self.serializer, content_type, content_encoding, text, field=key)


def as_meta(value: Any, key: str) -> Meta | None:
    """``value`` read under ``key`` as a task meta (None stays None); anything else is refused."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRecordError(
            "meta", f"the value under {key!r} is a {type(value).__name__}, not a task meta"
        )
    return value
