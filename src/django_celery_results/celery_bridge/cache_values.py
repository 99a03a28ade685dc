"""How ``django-cache`` translates Celery's ids, keys and values for the key-value use cases.

Celery hands ids over as ``str``, ``bytes``, ``int`` or ``uuid.UUID`` and keys as ``str`` or
``bytes``; the cache gets text. Metas and groups go to the cache as Python objects (the cache
pickles them) or, under ``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER``, as text
serialized with ``result_serializer``; Celery's key prefixes (with its global prefix) name them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from kombu.exceptions import ContentDisallowed, DecodeError

from ..domain import keyvalue
from ..domain.errors import InvalidRecordError
from .serialization import KombuSerializer

__all__ = [
    "SERIALIZER",
    "TEXT_SETTING",
    "CacheSerializer",
    "key_naming",
    "stored_values",
    "text",
    "text_id",
    "tuple_of_text_ids",
    "values_as_text",
]

#: The serializer the old package fixed for this backend, whatever ``result_serializer`` says:
#: metas go to the cache as Python objects (Django's cache pickles them), so results and
#: exception instances come back unchanged. Still the default (see ``TEXT_SETTING``).
SERIALIZER = "pickle"

#: The Django setting that, when True, stores metas and groups as text serialized with
#: Celery's ``result_serializer`` and reads them back only within ``accept_content`` (or
#: ``result_accept_content``), instead of as Python objects that the cache pickles.
TEXT_SETTING = "DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER"


def values_as_text() -> bool:
    """Whether ``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER`` is on (default False)."""
    value = getattr(settings, TEXT_SETTING, False)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{TEXT_SETTING} must be True or False, got {value!r}")
    return value


class CacheSerializer(KombuSerializer):
    """Celery's serializer, whose refusals (content not accepted, bad payload) are domain errors."""

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Deserialize a stored payload of an accepted content type, or raise InvalidRecordError."""
        try:
            return super().loads(payload, content_type, content_encoding)
        except (ContentDisallowed, DecodeError) as exc:
            raise InvalidRecordError(
                "value", f"a stored {content_type} value was not read: {exc}"
            ) from exc


def stored_values(serializer: str, accept: set[str] | None, as_text: bool) -> keyvalue.StoredValues:
    """How metas and groups are stored: as objects, or as text (``as_text``) within ``accept``."""
    # Text entries are read by their own content type within ``accept`` in both modes, so
    # switching the setting off again leaves what was written under it readable. A Python
    # object is what the cache unpickled: read in text mode only if pickle is accepted.
    values = CacheSerializer(serializer, accept)
    if not as_text:
        return keyvalue.StoredValues(serializer=values)
    return keyvalue.StoredValues(
        serializer=values,
        write_text=True,
        read_objects=keyvalue.PICKLE_CONTENT_TYPE in (accept or ()),
    )


def key_naming(
    task_prefix: str | bytes,
    group_prefix: str | bytes,
    chord_prefix: str | bytes,
    max_length: int,
) -> keyvalue.KeyNaming:
    """The keys of the use cases under Celery's three prefixes (global prefix included)."""
    # Celery has put ``result_backend_transport_options["global_keyprefix"]`` in front of
    # its three prefixes; ours get the same.
    tasks = text(task_prefix)
    shared = tasks[: -len(keyvalue.TASK_PREFIX)]
    return keyvalue.KeyNaming(
        task_prefix=tasks,
        group_prefix=text(group_prefix),
        chord_prefix=text(chord_prefix),
        final_prefix=shared + keyvalue.FINAL_PREFIX,
        part_prefix=shared + keyvalue.PART_PREFIX,
        recovery_prefix=shared + keyvalue.RECOVERY_PREFIX,
        max_length=max_length,
    )


def text(key: str | bytes) -> str:
    """A key as text (Celery hands some ids and keys over as bytes, its default ``key_t``)."""
    return key.decode("utf-8") if isinstance(key, bytes) else str(key)


def text_id(field: str, ident: Any) -> str:
    """A task or group id as text: bytes decoded, ints and UUIDs as their ``str()``.

    The old package stored ``str(id)`` for the ints and ``uuid.UUID`` objects that callers
    hand to ``store_result`` or ``GroupResult``; anything else is an InvalidRecordError.
    """
    return keyvalue.id_text(field, text(ident) if isinstance(ident, bytes) else ident)


def tuple_of_text_ids(result: Any) -> Any:
    """``result.as_tuple()`` with every id (the group's, its members', their parents') as text.

    A group saved with UUID or int ids restores with the ``str`` ids that its members' results
    are stored under.
    """
    return _text_ids(result.as_tuple())


def _text_ids(node: Any) -> Any:
    (ident, parent), children = node
    return (
        (text_id("task_id", ident), parent and _text_ids(parent)),
        None if children is None else [_text_ids(child) for child in children],
    )
