"""Value objects for what the backends store: task results, group results, chord counters.

Records hold the *stored* form (serialized text plus its content type and encoding), so every
repository stores and returns them unchanged; turning values into that form is ``codec``'s job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import attrs

from . import states
from .errors import InvalidRecordError

__all__ = [
    "DEFAULT_ID_MAX_LENGTH",
    "ChordCounter",
    "FieldLimits",
    "GroupRecord",
    "Ident",
    "PartCount",
    "TaskRecord",
    "id_text",
    "storable_text",
    "stored_id",
]

#: Column widths of the schema (``django_celery_results_taskresult`` and friends). The ORM
#: adapter declares its own from its model fields; these are the defaults for everything else.
DEFAULT_ID_MAX_LENGTH = 255


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRecordError(
            attribute.name, f"limit must be a whole number >= 1, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class FieldLimits:
    """The longest value each text field of a storage can hold.

    Attributes:
        id: task and group ids (``DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH`` on the ORM).
        task_name: the task's registered name.
        periodic_task_name: the celery-beat schedule entry name.
        worker: the worker's hostname.
        status: the state name.
        content_type: the serializer's content type.
        content_encoding: the serializer's content encoding.
    """

    id: int = attrs.field(default=DEFAULT_ID_MAX_LENGTH, validator=_positive)
    task_name: int = attrs.field(default=DEFAULT_ID_MAX_LENGTH, validator=_positive)
    periodic_task_name: int = attrs.field(default=255, validator=_positive)
    worker: int = attrs.field(default=100, validator=_positive)
    status: int = attrs.field(default=50, validator=_positive)
    content_type: int = attrs.field(default=128, validator=_positive)
    content_encoding: int = attrs.field(default=64, validator=_positive)

    def check_task(self, record: TaskRecord) -> None:
        """Raise InvalidRecordError naming the first field of ``record`` that is too long."""
        _check_length("task_id", record.task_id, self.id, record.task_id)
        _check_length("status", record.status, self.status, record.task_id)
        _check_length("task_name", record.task_name, self.task_name, record.task_id)
        _check_length(
            "periodic_task_name", record.periodic_task_name, self.periodic_task_name, record.task_id
        )
        _check_length("worker", record.worker, self.worker, record.task_id)
        _check_length("content_type", record.content_type, self.content_type, record.task_id)
        _check_length(
            "content_encoding", record.content_encoding, self.content_encoding, record.task_id
        )

    def check_group(self, record: GroupRecord) -> None:
        """Raise InvalidRecordError naming the first field of ``record`` that is too long."""
        _check_length("group_id", record.group_id, self.id, record.group_id)
        _check_length("content_type", record.content_type, self.content_type, record.group_id)
        _check_length(
            "content_encoding", record.content_encoding, self.content_encoding, record.group_id
        )

    def check_id(self, field: str, value: str) -> None:
        """Raise InvalidRecordError if the id ``value`` is longer than the id columns allow."""
        _check_length(field, value, self.id, value)


def _shorten(value: str, width: int = 60) -> str:
    return value if len(value) <= width else f"{value[: width - 3]}..."


def _check_length(field: str, value: str | None, limit: int, owner: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidRecordError(
            field,
            f"{len(value)} characters is longer than the limit of {limit} "
            f"(value {_shorten(value)!r}, record {_shorten(owner)!r})",
        )


#: What a task or group id may be given as: Celery's ids are ``str``, but callers hand over
#: ints and ``uuid.UUID`` objects too (the old package stored their ``str()``), and so do we.
Ident = str | int | uuid.UUID


def id_text(field: str, ident: Ident) -> str:
    """``ident`` as the text it is stored under: a ``str`` as it is, an int or a UUID as ``str()``.

    The old package stored ``str(id)``. The domain's one id-to-text rule: the keys of the
    key-value results are made from it, and the ids of records (``stored_id``) too.

    Raises:
        InvalidRecordError: naming ``field``, for an empty id or one of any other type (a
            bool is not taken for an int).
    """
    if isinstance(ident, (int, uuid.UUID)) and not isinstance(ident, bool):
        return str(ident)
    if not isinstance(ident, str) or not ident:
        raise InvalidRecordError(
            field, f"must be a non-empty string, int or UUID, got {type(ident).__name__} {ident!r}"
        )
    return ident


def stored_id(value: Any) -> Any:
    """An id as a record stores it: ``bytes`` decoded, then ``id_text``, then ``storable_text``.

    Celery and user code hand ids over as ``str`` mostly, but also as ``bytes`` (Celery's
    ``key_t``), ``int`` or ``uuid.UUID``. A value ``id_text`` refuses (empty, another type) is
    returned unchanged, for the record's validator to refuse with its own clear error.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    try:
        return storable_text(id_text("id", value))
    except InvalidRecordError:
        return value


def storable_text(value: Any) -> Any:
    """``value`` with every lone surrogate escaped as backslash text; other values unchanged.

    U+DCFF becomes the six characters backslash, ``udcff`` (Python's ``backslashreplace``).

    A lone surrogate (``os.fsdecode`` of a non-UTF-8 file name puts one in an exception
    message, hence in its traceback) cannot be encoded as UTF-8, so no database driver can
    send it: SQLite, psycopg and mysqlclient all raise ``UnicodeEncodeError`` and the task's
    FAILURE would be lost. Escaping keeps the text visible instead of dropping it.
    """
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _non_empty_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise InvalidRecordError(
            attribute.name, f"must be a string, got {type(value).__name__} {value!r}"
        )
    if not value:
        raise InvalidRecordError(attribute.name, "must not be empty")


def _state_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidRecordError(attribute.name, f"must be a non-empty state name, got {value!r}")


def _aware(
    instance: object, attribute: attrs.Attribute[datetime | None], value: datetime | None
) -> None:
    if value is not None and value.utcoffset() is None:
        raise InvalidRecordError(attribute.name, f"must be timezone-aware, got naive {value!r}")


@attrs.frozen(kw_only=True)
class TaskRecord:
    """One task's latest stored state.

    Attributes:
        task_id: Celery's task id; unique, non-empty.
        status: the state name (Celery's or a custom one).
        content_type: how ``result`` and ``meta`` were serialized (e.g. ``application/json``).
        content_encoding: their text encoding (``utf-8``, or ``binary`` for base64 text).
        result: the serialized result (or exception), None when there is none.
        traceback: the formatted traceback of a failure.
        meta: serialized extra meta (children, group, custom ``request.meta``).
        task_name, task_args, task_kwargs, worker, periodic_task_name: ``result_extended``
            fields; args and kwargs are stored as their serialized text.
        date_created: when the first state of this task was stored (kept across updates).
        date_started: when the task entered STARTED.
        date_done: when this state was stored.
    """

    task_id: str = attrs.field(converter=stored_id, validator=_non_empty_id)
    status: str = attrs.field(default=states.PENDING, validator=_state_name)
    content_type: str = ""
    content_encoding: str = ""
    result: str | None = attrs.field(default=None, converter=storable_text)
    traceback: str | None = attrs.field(default=None, converter=storable_text)
    meta: str | None = attrs.field(default=None, converter=storable_text)
    task_name: str | None = attrs.field(default=None, converter=storable_text)
    task_args: str | None = attrs.field(default=None, converter=storable_text)
    task_kwargs: str | None = attrs.field(default=None, converter=storable_text)
    worker: str | None = attrs.field(default=None, converter=storable_text)
    periodic_task_name: str | None = attrs.field(default=None, converter=storable_text)
    date_created: datetime | None = attrs.field(default=None, validator=_aware)
    date_started: datetime | None = attrs.field(default=None, validator=_aware)
    date_done: datetime | None = attrs.field(default=None, validator=_aware)

    @property
    def is_ready(self) -> bool:
        """Whether the task has finished (SUCCESS, FAILURE or REVOKED)."""
        return states.is_ready(self.status)


@attrs.frozen(kw_only=True)
class GroupRecord:
    """A saved ``GroupResult``: the serialized list of its members' ids.

    Attributes:
        group_id: Celery's group id; unique, non-empty.
        content_type: how ``result`` was serialized.
        content_encoding: its text encoding.
        result: the serialized group (``GroupResult.as_tuple()`` form in Celery).
        date_created: when the group was first saved.
        date_done: when it was last saved.
    """

    group_id: str = attrs.field(converter=stored_id, validator=_non_empty_id)
    content_type: str = ""
    content_encoding: str = ""
    result: str | None = attrs.field(default=None, converter=storable_text)
    date_created: datetime | None = attrs.field(default=None, validator=_aware)
    date_done: datetime | None = attrs.field(default=None, validator=_aware)


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRecordError(attribute.name, f"must be a whole number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ChordCounter:
    """How many header tasks of a chord have yet to report.

    Attributes:
        group_id: the chord header's group id.
        sub_tasks: the serialized header ``GroupResult`` (as the old package stored it).
        count: remaining header tasks; the part that brings it to 0 fires the callback.
        date_created: when the chord started; counters older than ``result_expires`` are
            removed by cleanup, finished or not.
        callback: the serialized callback signature (its own task id included), kept so
            that a chord whose last header task was counted by a worker that died before
            sending it can still be sent by recovery; None for counters written without it
            (the old package, a downgrade).
        date_claimed: when a process took on sending the callback (after counting the last
            part, or recovery); a claim older than the grace period is taken over.
        date_done: when the callback was sent or its ChordError stored: the chord needs
            nothing more.
    """

    group_id: str = attrs.field(converter=stored_id, validator=_non_empty_id)
    sub_tasks: str = attrs.field(default="", converter=storable_text)
    count: int = attrs.field(default=0, validator=_non_negative)
    date_created: datetime | None = attrs.field(default=None, validator=_aware)
    callback: str | None = attrs.field(default=None, converter=storable_text)
    date_claimed: datetime | None = attrs.field(default=None, validator=_aware)
    date_done: datetime | None = attrs.field(default=None, validator=_aware)

    def decrement(self) -> ChordCounter:
        """The counter after one more header task reported (never below zero)."""
        return attrs.evolve(self, count=max(self.count - 1, 0))

    @property
    def is_done(self) -> bool:
        """Whether every header task has reported."""
        return self.count == 0

    def needs_recovery(self, stale_before: datetime) -> bool:
        """Whether the callback is due but nobody is known to be sending it.

        Every header task was counted, the callback was neither sent nor failed, and either
        nobody claimed it (the counting worker died first, or its reply was lost) before
        ``stale_before``, or the claim is older than ``stale_before`` (the claimer died).
        """
        if not self.is_done or self.date_done is not None or self.callback is None:
            return False
        since = self.date_claimed or self.date_created
        return since is None or since < stale_before

    def may_claim(self, stale_before: datetime, claimed_at: datetime | None = None) -> bool:
        """Whether a process may take on sending the callback now (claiming at ``claimed_at``).

        Every header task was counted, nothing was sent yet, and nobody holds a claim
        younger than ``stale_before``, unless it is this very claim (``date_claimed`` equal to
        ``claimed_at``): a claim retried after a lost reply recognises its own first attempt.
        """
        if not self.is_done or self.date_done is not None:
            return False
        if self.date_claimed is None or self.date_claimed < stale_before:
            return True
        return claimed_at is not None and self.date_claimed == claimed_at


@attrs.frozen
class PartCount:
    """What counting one returned header task of a chord did.

    Attributes:
        remaining: header tasks still to report after this call; None when no counter is
            stored for the chord (never started here, or already expired).
        counted: whether this call lowered the count. False for a header task that was
            already counted (a redelivered ``acks_late`` task, a duplicate message) and for
            one arriving after the chord finished.
    """

    remaining: int | None
    counted: bool

    @property
    def is_last(self) -> bool:
        """Whether this call counted the chord's last header task: the callback is due."""
        return self.counted and self.remaining == 0

    @property
    def chord_is_known(self) -> bool:
        """Whether a counter exists for the chord."""
        return self.remaining is not None
