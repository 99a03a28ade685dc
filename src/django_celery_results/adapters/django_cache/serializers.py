"""Cache value serializers that never unpickle, for caches that only the results live in.

Django's Redis and memcached caches pickle every value but integers, and unpickle whatever they
read: whoever can write to the server can make every reader run code. With
``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER = True`` the ``django-cache`` backend
stores only text (metas and groups serialized by Celery's ``result_serializer``) and integers
(chord counters and part marks), so such a cache can be told to store nothing else:

- Redis (``RedisCache``): ``"OPTIONS": {"serializer": "<this module>.TextRedisSerializer"}``
  (``django_celery_results.adapters.django_cache.serializers``);
- memcached (``PyMemcacheCache``): ``"OPTIONS": {"serde": TextMemcacheSerde()}``.

A value of any other type is refused when written (TypeError) and when read (InvalidRecordError),
never unpickled. Give such a cache alias to the results alone: Django's other users of a cache
(sessions, the template cache) store Python objects.
"""

from __future__ import annotations

from typing import Any, Final

from ...domain.errors import InvalidRecordError

__all__ = ["TextMemcacheSerde", "TextRedisSerializer"]

#: pymemcache's flags (``pymemcache.serde``), repeated so this module imports without it.
_FLAG_BYTES: Final = 0
_FLAG_INTEGER: Final = 1 << 1
_FLAG_LONG: Final = 1 << 2
_FLAG_TEXT: Final = 1 << 4


def _refused_type(value: Any) -> TypeError:
    return TypeError(
        f"this cache stores only int and str values, got {type(value).__name__}: set "
        "DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER = True and keep other users of the "
        "cache on another alias"
    )


class TextRedisSerializer:
    """For Django's ``RedisCache`` (``OPTIONS["serializer"]``): ints and UTF-8 text, no pickle.

    Integers are stored as Django's own serializer stores them (digits, so ``INCRBY`` works on
    them); text as its UTF-8 bytes. Reading gives back an int for digits, a ``str`` for UTF-8
    text, and refuses anything else (a pickle planted by someone else is never loaded).
    """

    def __init__(self, protocol: int | None = None) -> None:
        # Django passes no argument; the parameter mirrors its RedisSerializer's signature.
        del protocol

    def dumps(self, obj: Any) -> int | bytes:
        """``obj`` as Redis stores it; TypeError for anything but an int or a str."""
        if type(obj) is int:
            return obj
        if isinstance(obj, str):
            return obj.encode("utf-8")
        raise _refused_type(obj)

    def loads(self, data: bytes) -> int | str:
        """The int or str stored as ``data``; InvalidRecordError for anything else."""
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecordError(
                "value",
                f"a {len(data)}-byte Redis value is neither an integer nor UTF-8 text "
                "(a pickle?): refused, not unpickled",
            ) from exc


class TextMemcacheSerde:
    """For Django's ``PyMemcacheCache`` (``OPTIONS["serde"]``): ints and text, no pickle.

    Writes ints and strs with pymemcache's own flags (so memcached's ``incr`` works on the
    counters); reads them back, and raw bytes as bytes. A value flagged as a pickle (or
    anything else) is refused, never unpickled.
    """

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        """``value`` as (bytes, flags); TypeError for anything but an int or a str."""
        if type(value) is int:
            return str(value).encode("ascii"), _FLAG_INTEGER
        if isinstance(value, str):
            return value.encode("utf-8"), _FLAG_TEXT
        raise _refused_type(value)

    def deserialize(self, key: Any, value: bytes, flags: int) -> int | str | bytes:
        """The value stored under ``key`` with ``flags``; InvalidRecordError for a pickle."""
        if flags == _FLAG_BYTES:
            return value
        if flags & _FLAG_TEXT:
            return value.decode("utf-8")
        if flags & (_FLAG_INTEGER | _FLAG_LONG):
            return int(value)
        raise InvalidRecordError(
            "value",
            f"the memcached value under {key!r} has flags {flags} (a pickle?): refused, "
            "not unpickled",
        )
