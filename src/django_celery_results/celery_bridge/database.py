"""``DatabaseBackend``: Celery's ``django-db`` result backend over the domain's ResultStore."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import Celery, maybe_signature, states
from celery.backends.base import BaseBackend
from celery.exceptions import ChordError
from celery.result import GroupResult, result_from_tuple
from django.conf import settings
from django.utils import timezone as django_timezone
from kombu.exceptions import DecodeError

from ..domain import codec
from ..domain.errors import InvalidRecordError
from ..domain.records import ChordCounter, GroupRecord, PartCount, TaskRecord
from ..domain.results import ResultStore
from ..domain.retry import RetryPolicy
from .chord_size import chord_size
from .chords import on_part_counted, recover_chords
from .composition import DatabaseStores
from .polling import NativeJoin
from .recovery import RecoveryReport, chord_recovery_grace
from .retrying import retrying
from .serialization import KombuSerializer

logger = logging.getLogger(__name__)


def _as_configured(value: datetime | None) -> datetime | None:
    """A stored date as Django's ``USE_TZ`` wants it: aware, or naive local time without it."""
    if value is None or settings.USE_TZ:
        return value
    return django_timezone.make_naive(value, django_timezone.get_default_timezone())


class _UtcClock:
    """The Celery app's clock (``app.now()``), which honours ``enable_utc`` and ``timezone``."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def now(self) -> datetime:
        now: datetime = self._app.now()
        return now


class DatabaseBackend(NativeJoin, BaseBackend):
    """Celery result backend keeping results through Django (``result_backend = "django-db"``).

    Which storage it uses is chosen once, at first use, by the
    ``DJANGO_CELERY_RESULTS_REPOSITORIES`` setting (the Django ORM by default).
    """

    # Set by Celery's Backend.__init__; declared because celery-types leaves them out.
    app: Celery
    serializer: str
    accept: set[str] | None
    expires: float | timedelta | None
    _cache: MutableMapping[str, Any]

    #: Seconds between polls of a pending result in ``AsyncResult.get()``.
    subpolling_interval = 0.5

    #: ``GroupResult.join_native`` reads a whole group per poll through ``get_many``.
    supports_native_join = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._serializer = KombuSerializer(self.serializer, self.accept)
        self._retry_policy = RetryPolicy()
        self._stores = DatabaseStores(_UtcClock(self.app))

    # -- composition -------------------------------------------------------------------------

    @property
    def result_store(self) -> ResultStore:
        """The use cases over the configured repositories (built at first use, after Django)."""
        return self._stores.configured()

    def _store_for(self, using: str | None) -> ResultStore:
        # ``using`` pins a database alias for one call, as the old backend's keyword did.
        return self._stores.for_alias(using)

    @property
    def TaskModel(self) -> type[Any]:  # noqa: N802 - the old package's public attribute name
        """The ``TaskResult`` model (kept for code that reached it through the backend)."""
        from ..adapters.django_orm.models import TaskResult

        return TaskResult

    @property
    def GroupModel(self) -> type[Any]:  # noqa: N802 - the old package's public attribute name
        """The ``GroupResult`` model."""
        from ..adapters.django_orm.models import GroupResult

        return GroupResult

    # -- encoding ----------------------------------------------------------------------------

    def encode_content(self, data: Any) -> tuple[str, str, str]:
        """Serialize ``data`` into its stored form: (content_type, content_encoding, text)."""
        encoded = codec.encode(self._serializer, data)
        return encoded.content_type, encoded.content_encoding, encoded.text

    def decode_content(self, content_type: str, content_encoding: str, text: str | None) -> Any:
        """Turn stored text back into the value it was encoded from."""
        return codec.decode(self._serializer, content_type, content_encoding, text)

    # -- tasks -------------------------------------------------------------------------------

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        using: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Store a task's state: one conditional write, never overwriting a final SUCCESS."""
        encoded = codec.encode(self._serializer, result)
        record = TaskRecord(
            task_id=task_id,
            status=state,
            content_type=encoded.content_type,
            content_encoding=encoded.content_encoding,
            result=encoded.text,
            # Stored for every failure, extended or not: the old package dropped it unless
            # result_extended was on, leaving failures with no trace in the admin.
            traceback=traceback,
            meta=codec.encode(self._serializer, self._meta_for(request)).text,
            **self._extended_fields(request),
        )
        chord_part = kwargs.get("chord_part")
        if chord_part is not None:
            # From mark_as_done: a chord header task's result, stored and counted together.
            group_id, counts = chord_part
            written, part = self._store_for(using).store_chord_part(record, group_id)
            counts.append(part)
        else:
            written = self._store_for(using).store_task(record)
        if not written:
            logger.info(
                "Result of task %s kept as stored: state %s may not replace it", task_id, state
            )
        return result

    def _meta_for(self, request: Any) -> dict[str, Any]:
        request = request or self._current_request()
        meta: dict[str, Any] = dict(getattr(request, "meta", None) or {})
        meta["children"] = self.current_task_children(request)
        if getattr(request, "group", None):
            meta["group_id"] = request.group
        if getattr(request, "parent_id", None):
            meta["parent_id"] = request.parent_id
        if request is not None and self.app.conf.find_value_for_key("extended", "result"):
            meta["retries"] = getattr(request, "retries", None)
            delivery_info = getattr(request, "delivery_info", None) or {}
            meta["queue"] = delivery_info.get("routing_key")
        return meta

    @staticmethod
    def _current_request() -> Any:
        from celery import current_task

        return getattr(current_task, "request", None)

    def _extended_fields(self, request: Any) -> dict[str, Any]:
        if request is None or not self.app.conf.find_value_for_key("extended", "result"):
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
            "task_args": None if args is None else codec.encode(self._serializer, args).text,
            "task_kwargs": None if kwargs is None else codec.encode(self._serializer, kwargs).text,
            "worker": getattr(request, "hostname", None),
            "periodic_task_name": getattr(request, "periodic_task_name", None),
        }

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        """The stored meta of ``task_id`` as Celery expects it; PENDING when nothing is stored."""
        record = self.result_store.get_task(task_id)
        if record is None:
            return {
                "task_id": task_id,
                "status": states.PENDING,
                "result": None,
                "traceback": None,
                "children": None,
                "date_done": None,
            }
        meta: dict[str, Any] = self.meta_from_decoded(self._meta_from_record(record))
        return meta

    def _meta_from_record(self, record: TaskRecord) -> dict[str, Any]:
        decode = self._decoder(record.content_type, record.content_encoding)
        meta = decode(record.meta, "meta") or {}
        task_args = self._decode_arguments(decode, record.task_args, "task_args")
        task_kwargs = self._decode_arguments(decode, record.task_kwargs, "task_kwargs")
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

    def _decoder(self, content_type: str, content_encoding: str) -> Any:
        def decode(text: str | None, field: str = "result") -> Any:
            return codec.decode(self._serializer, content_type, content_encoding, text, field=field)

        return decode

    @staticmethod
    def _decode_arguments(decode: Any, text: str | None, field: str) -> Any:
        # Arguments are shown, not computed with: text a serializer cannot read (an older
        # writer's repr) is returned as it is stored rather than failing the whole read.
        try:
            return decode(text, field)
        except (DecodeError, InvalidRecordError, ValueError):
            return text

    def _forget(self, task_id: str) -> None:
        """Remove a task's result."""
        self.result_store.forget_task(task_id)

    def task_result_exists(self, task_id: str) -> bool:
        """Whether a state other than PENDING is stored for ``task_id``."""
        record = self.result_store.get_task(task_id)
        return record is not None and record.status != states.PENDING

    # -- native join -------------------------------------------------------------------------

    def _read_ready(
        self, pending: list[str], ready_states: frozenset[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """One ``SELECT`` per chunk of ids (the repository's ``get_many``) per poll."""
        for task_id, record in self.result_store.get_tasks(pending).items():
            if record.status in ready_states:
                yield task_id, self.meta_from_decoded(self._meta_from_record(record))

    # -- groups ------------------------------------------------------------------------------

    def _save_group(self, group_id: str, group_result: GroupResult) -> GroupResult:
        """Save a group result (its members' ids) so ``GroupResult.restore`` finds it."""
        encoded = codec.encode(self._serializer, group_result.as_tuple())
        self.result_store.save_group(
            GroupRecord(
                group_id=group_id,
                content_type=encoded.content_type,
                content_encoding=encoded.content_encoding,
                result=encoded.text,
            )
        )
        return group_result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        """The saved group, or None for an unknown id (not an error)."""
        record = self.result_store.get_group(group_id)
        if record is None:
            return None
        decoded = codec.decode(
            self._serializer, record.content_type, record.content_encoding, record.result
        )
        return {
            "group_id": record.group_id,
            "result": None if not decoded else result_from_tuple(decoded, app=self.app),
            "date_done": _as_configured(record.date_done),
            "date_created": _as_configured(record.date_created),
        }

    def _delete_group(self, group_id: str) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.result_store.delete_group(group_id)

    # -- expiry ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Send unsent chord callbacks, then delete results older than ``result_expires``.

        Celery's ``celery.backend_cleanup`` task calls this daily when beat runs.
        """
        recovered = self.recover_chords()
        if recovered.sent or recovered.unreadable:
            logger.warning("Chord recovery: %s", recovered)
        if not self.expires:
            return
        expires = self.expires
        if not isinstance(expires, timedelta):
            expires = timedelta(seconds=float(expires))
        report = self.result_store.delete_expired(expires)
        logger.info("Expired %d task results and %d group results", report.tasks, report.groups)

    # -- retries -----------------------------------------------------------------------------

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        """Whether Celery's ``result_backend_always_retry`` loop may retry after ``exc``.

        Only transient storage failures (lost connection, deadlock, lock timeout) qualify; the
        adapter that raised it has already reset the failed connection of its own alias.
        """
        return self._retry_policy.is_retryable(exc)

    # -- chords ------------------------------------------------------------------------------

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Start counting a chord's header tasks before they run."""
        header = (
            header_result_args
            if isinstance(header_result_args, GroupResult)
            else self.app.GroupResult(*header_result_args)
        )
        members = [r.as_tuple() for r in header]
        size = chord_size(header, body)
        if not header.id:
            raise ChordError("A chord header needs a group id to be counted")
        self.result_store.start_chord(
            ChordCounter(
                group_id=header.id,
                sub_tasks=json.dumps(members),
                count=size,
                callback=self._encode_callback(body),
            )
        )

    def _encode_callback(self, body: Any) -> str | None:
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

    def _decode_callback(self, stored: str) -> Any:
        envelope = json.loads(stored)
        body = codec.decode(
            self._serializer,
            envelope["content_type"],
            envelope["content_encoding"],
            envelope["body"],
            field="callback",
        )
        return maybe_signature(body, app=self.app)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """Count one header task, once; the one that counts the last sends the callback.

        A header task reported twice (``acks_late`` redelivery, a duplicate message) counts
        once, so the chord waits for its real last task. A chord with no counter fails its
        callback with a ChordError rather than leaving it pending forever.
        """
        group_id, task_id = getattr(request, "group", None), getattr(request, "id", None)
        if not group_id or not task_id or not getattr(request, "chord", None):
            return
        # Counting a part twice is harmless here (each task id counts once), so a count whose
        # reply was lost is simply retried.
        part = retrying(
            self,
            lambda: self.result_store.chord_part_returned(group_id, task_id),
            f"Counting task {task_id} of chord {group_id}",
        )
        self._part_counted(request, group_id, part)

    def mark_as_done(
        self,
        task_id: str,
        result: Any,
        request: Any = None,
        store_result: bool = True,
        state: str = states.SUCCESS,
    ) -> None:
        """Store a task's success; for a chord header task, store it and count it in one step.

        Celery stores the result, then calls ``on_chord_part_return``: two transactions per
        header task. Here both go to ``ResultStore.store_chord_part`` (one transaction, one
        statement on PostgreSQL), through Celery's ``store_result`` so its retry policy
        (``result_backend_always_retry``) covers the pair. A subclass that overrides
        ``on_chord_part_return`` keeps Celery's two steps, so its override still runs.
        """
        group_id = getattr(request, "group", None)
        own_part = getattr(request, "chord", None) and getattr(request, "id", None) == task_id
        ours = type(self).on_chord_part_return is DatabaseBackend.on_chord_part_return
        ignored = getattr(request, "ignore_result", False)
        if not (group_id and own_part and store_result and ours) or ignored:
            super().mark_as_done(task_id, result, request, store_result, state)
            return
        counts: list[PartCount] = []
        self.store_result(task_id, result, state, request=request, chord_part=(group_id, counts))
        if not counts:
            # A subclass's _store_result that did not pass the keyword on stored only the
            # result: count the part as Celery would.
            self.on_chord_part_return(request, state, result)
            return
        self._part_counted(request, str(group_id), counts[-1])

    def _part_counted(self, request: Any, group_id: str, part: PartCount) -> None:
        """What follows counting a header task: the step both backends share (``chords``)."""
        store = self.result_store
        on_part_counted(
            self,
            request,
            group_id,
            part,
            read_header=lambda: self._chord_header(group_id),
            finish_chord=lambda header: store.finish_chord(group_id),
            claim_callback=partial(
                store.claim_chord_callback, group_id, self.chord_recovery_grace, store.now()
            ),
            callback_done=lambda: store.chord_callback_done(group_id),
        )

    @property
    def chord_recovery_grace(self) -> timedelta:
        """How long a finished chord's callback may go unsent before recovery sends it.

        ``DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE`` (seconds or a timedelta; default five
        minutes). A claim older than this is taken over, so keep it well above the time a
        callback takes to send (``result_chord_join_timeout`` plus the broker's publish).
        """
        return chord_recovery_grace()

    def chords_awaiting_recovery(self, grace: timedelta, limit: int = 100) -> list[str]:
        """The group ids recovery would send the callbacks of now (nothing is claimed)."""
        return [c.group_id for c in self.result_store.chords_to_recover(grace, limit)]

    def recover_chords(self, grace: timedelta | None = None, limit: int = 100) -> RecoveryReport:
        """Send the callbacks of finished chords that no worker sent; report what was done.

        A worker killed between counting a chord's last header task and sending its callback
        (SIGKILL, the OOM killer, a lost node), or a COMMIT whose reply was lost under
        ``result_backend_always_retry``, leaves such a chord; every Celery backend has this
        hole. Each chord unsent for longer than ``grace`` is claimed (so two recoveries never
        both send it) and its callback sent with its own task id, as the worker would have:
        should the worker have sent it after all, the duplicate run cannot replace the first
        run's stored SUCCESS. Runs from ``cleanup()``, ``manage.py recover_chords`` and the
        ``django_celery_results.recover_chords`` task.
        """
        grace = self.chord_recovery_grace if grace is None else grace
        store = self.result_store
        claims: dict[str, datetime] = {}
        return recover_chords(
            self,
            grace,
            due=lambda: [
                (counter.group_id, self._stored_callback(counter.callback))
                for counter in store.chords_to_recover(grace, limit)
            ],
            # Each chord's claim keeps its time, so a retried claim recognises itself.
            claim_callback=lambda group_id: store.claim_chord_callback(
                group_id, grace, claims.setdefault(group_id, store.now())
            ),
            read_header=self._chord_header,
            callback_done=store.chord_callback_done,
            finish_chord=lambda group_id, header: store.finish_chord(group_id),
        )

    def _stored_callback(self, stored: str | None) -> Any:
        # The callback's signature, or the exception that reading it raised.
        try:
            return self._decode_callback(stored or "")
        except Exception as exc:
            return exc

    def _chord_header(self, group_id: str) -> GroupResult | None:
        """The chord's header, from its counter's ``sub_tasks`` (None when the counter is gone)."""
        counter = self.result_store.get_chord(group_id)
        if counter is None:
            return None
        members = [
            result_from_tuple(member, app=self.app) for member in json.loads(counter.sub_tasks)
        ]
        return self.app.GroupResult(group_id, members)
