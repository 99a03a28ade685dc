"""The old package's ``django_celery_results.utils``: the current time as Django settings want it.

Kept because projects (and the old package's own tests) import ``now`` and ``now_localtime``
from here. Both follow Django's time zone settings: with ``USE_TZ`` an aware datetime in the
current time zone, without it the naive local time Django uses everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar, overload

from django.conf import settings
from django.utils import timezone

__all__ = ["now", "now_localtime"]

_Value = TypeVar("_Value")


@overload
def now_localtime(value: datetime, use_tz: bool | None = None) -> datetime: ...
@overload
def now_localtime(value: _Value, use_tz: bool | None = None) -> _Value: ...
def now_localtime(value: object, use_tz: bool | None = None) -> object:
    """``value`` in the current time zone if it is an aware datetime and time zones are on.

    ``use_tz`` overrides ``settings.USE_TZ`` when given. Anything else (a naive datetime, a
    datetime marked ``convert_to_local_time = False``, a value that is no datetime) comes back
    unchanged: this is the conversion Django's templates apply to the values they show.
    """
    if not isinstance(value, datetime):
        return value
    if not (settings.USE_TZ if use_tz is None else use_tz):
        return value
    if timezone.is_naive(value) or not getattr(value, "convert_to_local_time", True):
        return value
    return timezone.localtime(value)


def now() -> datetime:
    """The current date and time: aware in the current time zone under ``USE_TZ``, else naive.

    Without ``USE_TZ`` it is the naive local time of ``TIME_ZONE``, as ``timezone.now()`` gives.
    """
    current = timezone.now()
    return now_localtime(current) if settings.USE_TZ else current
