"""Celery's task request, result meta and chord callback <-> the domain's records (``django-db``).

``DatabaseBackend`` stores records, Celery speaks in requests and meta dicts. ``RecordTranslation``
turns one into the other: the record a task state is stored as (its meta, and its name,
arguments and worker under ``result_extended``), the meta a stored record is read back as,
the group a saved group restores to, and the chord callback as stored for recovery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Celery, current_task, maybe_signature, states
from celery.result import GroupResult, result_from_tuple
from django.conf import settings
from django.utils import timezone as django_timezone
from kombu.exceptions import DecodeError

from ..domain import codec
from ..domain.errors import InvalidRecordError
from ..domain.ports import Serializer
from ..domain.records import GroupRecord, TaskRecord

__all__ = ["CeleryClock", "RecordTranslation", "pending_meta"]

logger = logging.getLogger(__name__)

_Decode = Callable[..., Any]


def _as_configured(value: datetime | None) -> datetime | None:
    """A stored date as Django's ``USE_TZ`` wants it: aware, or naive local time without it."""
    if value is None or settings.USE_TZ:
        return value
    return django_timezone.make_naive(value, django_timezone.get_default_timezone())


class CeleryClock:
    """The Celery app's clock (``app.now()``), which honours ``enable_utc`` and ``timezone``."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def now(self) -> datetime:
        """The app's current time."""
        now: datetime = self._app.now()
        return now


def pending_meta(task_id: str) -> dict[str, Any]:
    """The meta of a task nothing is stored for: PENDING, as Celery reports it."""
    return {
        "task_id": task_id,
        "status": states.PENDING,
        "result": None,
        "traceback": None,
        "children": None,
        "date_done": None,
    }


class RecordTranslation:
    """Celery's requests and metas as the domain's records, and back, for one backend.

    Args:
        app: the Celery app (its ``result_extended`` setting, its result classes).
        serializer: serializes results, metas and arguments (``result_serializer``).
        children: Celery's ``current_task_children(request)`` of the backend.
    """

    def __init__(self, app: Celery, serializer: Serializer, children: Callable[[Any], Any]) -> None:
        self._app = app
        self._serializer = serializer
        self._children = children

    def _text(self, value: Any) -> str | None:
        return codec.encode(self._serializer, value).text

    def _extended(self) -> bool:
        return bool(self._app.conf.find_value_for_key("extended", "result"))

    # -- writing -----------------------------------------------------------------------------

    def task_record(
        self, task_id: str, result: Any, state: str, traceback: str | None, request: Any
    ) -> TaskRecord:
        """The record one state of ``task_id`` is stored as (``result`` as Celery encoded it)."""
        encoded = codec.encode(self._serializer, result)
        return TaskRecord(
            task_id=task_id,
            status=state,
            content_type=encoded.content_type,
            content_encoding=encoded.content_encoding,
            result=encoded.text,
            # Stored for every failure, extended or not: the old package dropped it unless
            # result_extended was on, leaving failures with no trace in the admin.
            traceback=traceback,
            meta=self._text(self._meta_for(request)),
            **self._extended_fields(request),
        )

    def _meta_for(self, request: Any) -> dict[str, Any]:
        request = request or getattr(current_task, "request", None)
        meta: dict[str, Any] = dict(getattr(request, "meta", None) or {})
        meta["children"] = self._children(request)
        if getattr(request, "group", None):
            meta["group_id"] = request.group
        if getattr(request, "parent_id", None):
            meta["parent_id"] = request.parent_id
        if request is not None and self._extended():
            meta["retries"] = getattr(request, "retries", None)
            delivery_info = getattr(request, "delivery_info", None) or {}
            meta["queue"] = delivery_info.get("routing_key")
        return meta

    def _extended_fields(self, request: Any) -> dict[str, Any]:
        if request is None or not self._extended():
            return {}
        # argsrepr/kwargsrepr (task protocol 2) are what the sender chose to show, possibly
        # masking secrets; the raw arguments are the fallback for protocol 1.
        args = getattr(request, "argsrepr", None)
        if args is None:
            args = getattr(request, "args", None)
        kwargs = getattr(request, "kwargsrepr", None)
        if kwargs is None:
            kwargs = getattr(request, "kwargs", None)
        return {
            "task_name": getattr(request, "task", None),
            "task_args": None if args is None else self._text(args),
            "task_kwargs": None if kwargs is None else self._text(kwargs),
            "worker": getattr(request, "hostname", None),
            "periodic_task_name": getattr(request, "periodic_task_name", None),
        }

    def group_record(self, group_id: str, group_result: GroupResult) -> GroupRecord:
        """The record a group is saved as: its members' ids."""
        encoded = codec.encode(self._serializer, group_result.as_tuple())
        return GroupRecord(
            group_id=group_id,
            content_type=encoded.content_type,
            content_encoding=encoded.content_encoding,
            result=encoded.text,
        )

    # -- reading -----------------------------------------------------------------------------

    def task_meta(self, record: TaskRecord) -> dict[str, Any]:
        """The meta Celery reads for a stored record (before ``meta_from_decoded``)."""
        decode = self._decoder(record.content_type, record.content_encoding)
        meta = decode(record.meta, "meta") or {}
        task_args = _decode_arguments(decode, record.task_args, "task_args")
        task_kwargs = _decode_arguments(decode, record.task_kwargs, "task_kwargs")
        return {
            "children": None,
            **(meta if isinstance(meta, dict) else {}),
            "task_id": record.task_id,
            "status": record.status,
            "result": decode(record.result),
            "traceback": record.traceback,
            "date_done": _as_configured(record.date_done),
            "date_created": _as_configured(record.date_created),
            "date_started": _as_configured(record.date_started),
            "name": record.task_name,
            "task_name": record.task_name,
            "args": task_args,
            "kwargs": task_kwargs,
            "task_args": task_args,
            "task_kwargs": task_kwargs,
            "worker": record.worker,
            "periodic_task_name": record.periodic_task_name,
        }

    def _decoder(self, content_type: str, content_encoding: str) -> _Decode:
        def decode(text: str | None, field: str = "result") -> Any:
            return codec.decode(self._serializer, content_type, content_encoding, text, field=field)

        return decode

    def group_meta(self, record: GroupRecord) -> dict[str, Any]:
        """What ``GroupResult.restore`` reads for a saved group."""
        decoded = codec.decode(
            self._serializer, record.content_type, record.content_encoding, record.result
        )
        return {
            "group_id": record.group_id,
            "result": None if not decoded else result_from_tuple(decoded, app=self._app),
            "date_done": _as_configured(record.date_done),
            "date_created": _as_configured(record.date_created),
        }

    # -- chord callbacks ---------------------------------------------------------------------

    def callback_text(self, body: Any) -> str | None:
        """The chord's callback signature as stored for recovery (None if it cannot be).

        Serialized with the result serializer (so ``accept_content`` guards its reading) and
        kept with its content type and encoding, as one JSON text.
        """
        try:
            encoded = codec.encode(self._serializer, dict(body))
        except Exception as exc:
            # The chord still runs; only its recovery after a worker crash is lost.
            logger.warning("Chord callback %r cannot be stored for recovery: %r", body, exc)
            return None
        return json.dumps(
            {
                "content_type": encoded.content_type,
                "content_encoding": encoded.content_encoding,
                "body": encoded.text,
            }
        )

    def stored_callback(self, stored: str | None) -> Any:
        """The callback's signature, or the exception that reading it raised."""
        try:
            envelope = json.loads(stored or "")
            body = codec.decode(
                self._serializer,
                envelope["content_type"],
                envelope["content_encoding"],
                envelope["body"],
                field="callback",
            )
            return maybe_signature(body, app=self._app)
        except Exception as exc:
            return exc

    def chord_header(self, group_id: str, sub_tasks: str) -> GroupResult:
        """The chord's header from its counter's ``sub_tasks`` (the members' tuples as JSON)."""
        members = [result_from_tuple(member, app=self._app) for member in json.loads(sub_tasks)]
        return self._app.GroupResult(group_id, members)


def _decode_arguments(decode: _Decode, text: str | None, field: str) -> Any:
    # Arguments are shown, not computed with: text a serializer cannot read (an older
    # writer's repr) is returned as it is stored rather than failing the whole read.
    try:
        return decode(text, field)
    except (DecodeError, InvalidRecordError, ValueError):
        return text
