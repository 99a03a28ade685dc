"""The three tables of the ``django-db`` backend, column for column the old package's schema.

Field names, types, widths, nullability and index names are an interface: a database created by
``django-celery-results`` 2.x must keep working after switching packages, so they may only
change together with a new migration. The wording of labels and help texts is ours.

That is also why text columns are nullable (``DJ001``): NULL is what the old package stores for
"not recorded", and existing rows hold it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .managers import GroupResultManager, TaskResultManager

if TYPE_CHECKING:
    from datetime import datetime
    from typing import TypeAlias

    from celery import Celery
    from celery.result import GroupResult as CeleryGroupResult
    from django.utils.functional import _StrOrPromise as StrOrPromise

    TextColumn: TypeAlias = models.CharField[Any, str]
    DateColumn: TypeAlias = models.DateTimeField[Any, datetime]
    OptionalDateColumn: TypeAlias = models.DateTimeField[Any, datetime | None]
    NullableText: TypeAlias = models.TextField[Any, str | None]

__all__ = ["ID_MAX_LENGTH", "ChordCounter", "ChordPart", "GroupResult", "TaskResult"]

#: Width of the task and group id columns (and of ``task_name``). MySQL/MariaDB users with an
#: old ``utf8mb4`` setup lower it to 191 so a unique index fits in 767 bytes; the migrations read
#: the same setting, so the schema and the models always agree.
ID_MAX_LENGTH: int = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)

# Field factories for the columns several tables share: the same arguments as the old
# package's fields (the migrations' state compares them), written once.


def _id_field(label: StrOrPromise, help_text: StrOrPromise, *, unique: bool = False) -> TextColumn:
    """A task or group id column, ``ID_MAX_LENGTH`` wide."""
    return models.CharField(label, max_length=ID_MAX_LENGTH, unique=unique, help_text=help_text)


def _created_field(help_text: StrOrPromise) -> DateColumn:
    """``date_created``: set by the first save."""
    return models.DateTimeField(_("created at"), auto_now_add=True, help_text=help_text)


def _updated_field(help_text: StrOrPromise) -> DateColumn:
    """``date_done``: set by every save."""
    return models.DateTimeField(_("updated at"), auto_now=True, help_text=help_text)


def _content_type_field(help_text: StrOrPromise) -> TextColumn:
    """How the stored value was serialized."""
    return models.CharField(_("content type"), max_length=128, help_text=help_text)


def _content_encoding_field() -> TextColumn:
    """The text encoding of the serialized data."""
    return models.CharField(
        _("content encoding"),
        max_length=64,
        help_text=_("The text encoding of the serialized data (binary means base64)."),
    )


def _optional_date_field(label: StrOrPromise, help_text: StrOrPromise) -> OptionalDateColumn:
    """A date that is NULL until something happens (a chord's callback claimed, sent)."""
    return models.DateTimeField(label, null=True, blank=True, default=None, help_text=help_text)


def _serialized_field(label: StrOrPromise, help_text: StrOrPromise) -> NullableText:
    """A serialized value: NULL when not recorded, not editable in forms."""
    return models.TextField(label, null=True, default=None, editable=False, help_text=help_text)


class _StoredResult(models.Model):
    """What the task and group result tables share: newest first by default."""

    class Meta:
        """Abstract: no table of its own; the default ordering."""

        abstract = True
        ordering = ["-date_done"]  # noqa: RUF012 - Django reads Meta once; a list as in the migrations

    #: The fields ``as_dict`` returns, in order.
    dict_fields: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        """The stored fields by name (``dict_fields``), as Celery's meta names them."""
        return {name: getattr(self, name) for name in self.dict_fields}


def _result_meta(name: StrOrPromise, plural: StrOrPromise, **indexes: str) -> type[Any]:
    """The ``Meta`` of a result table: its names, and one named index per field of ``indexes``.

    It extends ``_StoredResult.Meta`` (the ordering), as Django's abstract models' children do.
    """
    options = {
        "verbose_name": name,
        "verbose_name_plural": plural,
        "indexes": [models.Index(fields=[field], name=index) for field, index in indexes.items()],
        "__doc__": "Names, and the named indexes of the old schema (ordering: _StoredResult).",
    }
    return type("Meta", (_StoredResult.Meta,), options)


class TaskResult(_StoredResult):
    """The latest stored state of one Celery task."""

    task_id = _id_field(_("task id"), _("The id Celery gave the task."), unique=True)
    periodic_task_name = models.CharField(  # noqa: DJ001
        _("periodic task name"),
        max_length=255,
        null=True,
        help_text=_("The celery beat schedule entry that sent the task, if any."),
    )
    task_name = models.CharField(  # noqa: DJ001
        _("task name"),
        max_length=ID_MAX_LENGTH,
        null=True,
        help_text=_("The registered name of the task."),
    )
    task_args = models.TextField(  # noqa: DJ001
        _("positional arguments"),
        null=True,
        help_text=_("The positional arguments of the call, serialized."),
    )
    task_kwargs = models.TextField(  # noqa: DJ001
        _("keyword arguments"),
        null=True,
        help_text=_("The keyword arguments of the call, serialized."),
    )
    status = models.CharField(
        _("state"),
        max_length=50,
        default="PENDING",
        help_text=_("The task's state, e.g. PENDING, STARTED, SUCCESS or FAILURE."),
    )
    worker = models.CharField(  # noqa: DJ001
        _("worker"),
        max_length=100,
        null=True,
        default=None,
        help_text=_("The hostname of the worker that ran the task."),
    )
    content_type = _content_type_field(
        _("How the result and meta were serialized, e.g. application/json.")
    )
    content_encoding = _content_encoding_field()
    result = _serialized_field(
        _("result"), _("The serialized return value, or exception of a failed task.")
    )
    date_created = _created_field(_("When the first state of the task was stored."))
    date_started = models.DateTimeField(
        _("started at"),
        null=True,
        default=None,
        help_text=_("When a worker started the task."),
    )
    date_done = _updated_field(
        _("When the current state was stored (the finish time of a finished task).")
    )
    traceback = models.TextField(  # noqa: DJ001
        _("traceback"),
        blank=True,
        null=True,
        help_text=_("The traceback of a failed task."),
    )
    meta = _serialized_field(
        _("meta"), _("Serialized extra information: children, custom meta of the request.")
    )

    objects = TaskResultManager()

    #: ``as_dict``'s keys: the stored fields by name, as Celery's task meta names them.
    dict_fields: ClassVar[tuple[str, ...]] = (
        "task_id",
        "task_name",
        "task_args",
        "task_kwargs",
        "status",
        "result",
        "date_done",
        "traceback",
        "meta",
        "worker",
        "date_created",
        "date_started",
        "periodic_task_name",
    )

    # The index names are the ones the old package's migrations created; renaming one would
    # make every existing database need a migration.
    Meta = _result_meta(
        _("task result"),
        _("task results"),
        task_name="django_cele_task_na_08aec9_idx",
        status="django_cele_status_9b6201_idx",
        worker="django_cele_worker_d54dd8_idx",
        date_created="django_cele_date_cr_f04a50_idx",
        date_done="django_cele_date_do_f59aad_idx",
        periodic_task_name="django_cele_periodi_1993cf_idx",
    )

    def __str__(self) -> str:
        return f"<Task: {self.task_id} ({self.status})>"


class ChordCounter(models.Model):
    """How many header tasks of a chord have not reported yet (the ``django-db`` chord join)."""

    group_id = _id_field(_("group id"), _("The id of the chord's header group."), unique=True)
    sub_tasks = models.TextField(
        _("header tasks"),
        help_text=_("The header's results as a JSON list of result tuples; see group_result()."),
    )
    count = models.PositiveIntegerField(
        _("remaining"),
        help_text=_("Header tasks still to finish; the callback runs when it reaches zero."),
    )
    # Added in 0015 (not in the old package): cleanup removes counters older than
    # result_expires, including those of chords that never finished.
    # Nullable: a counter created by the old package after a downgrade has no date; cleanup
    # stamps it on first sight and expires it one result_expires later.
    date_created = models.DateTimeField(
        _("created"),
        default=timezone.now,
        null=True,
        help_text=_("When the chord started."),
    )
    # Added in 0016 (not in the old package), all nullable so a downgrade keeps working: what
    # chord recovery needs to send a callback whose counting worker died before sending it.
    callback = models.TextField(  # noqa: DJ001 - NULL: a counter stored without it
        _("callback"),
        null=True,
        blank=True,
        default=None,
        help_text=_("The chord's callback signature, serialized, with its own task id."),
    )
    date_claimed = _optional_date_field(
        _("callback claimed"), _("When a worker or recovery took on sending the callback.")
    )
    date_done = _optional_date_field(
        _("callback done"), _("When the callback was sent, or its ChordError stored.")
    )

    class Meta:
        """Names, and the index cleanup uses."""

        verbose_name = _("chord counter")
        verbose_name_plural = _("chord counters")
        indexes = (models.Index(fields=["date_created"], name="dcr_chordcounter_created_idx"),)

    def __str__(self) -> str:
        return f"<ChordCounter: {self.group_id} ({self.count} left)>"

    def group_result(self, app: Celery | None = None) -> CeleryGroupResult:
        """The chord header as a Celery ``GroupResult``, rebuilt from ``sub_tasks``."""
        # Imported here so that importing the models never configures a Celery app.
        from celery.result import GroupResult as CeleryGroupResult
        from celery.result import result_from_tuple

        members = [result_from_tuple(item, app=app) for item in json.loads(self.sub_tasks)]
        return CeleryGroupResult(self.group_id, members, app=app)


class ChordPart(models.Model):
    """A chord header task that has been counted, so that a second report counts nothing.

    Added in 0015 (not in the old package), which counted a redelivered header task twice and
    fired the callback before the real last task finished.
    """

    group_id = _id_field(_("group id"), _("The id of the chord's header group."))
    task_id = _id_field(_("task id"), _("The header task that was counted."))
    date_done = models.DateTimeField(
        _("counted at"),
        default=timezone.now,
        help_text=_("When the task was counted."),
    )

    class Meta:
        """One row per (chord, header task); dated so cleanup can expire leftovers."""

        verbose_name = _("chord part")
        verbose_name_plural = _("chord parts")
        constraints = (
            models.UniqueConstraint(fields=["group_id", "task_id"], name="dcr_chordpart_uniq"),
        )
        indexes = (models.Index(fields=["date_done"], name="dcr_chordpart_done_idx"),)

    def __str__(self) -> str:
        return f"<ChordPart: {self.task_id} of {self.group_id}>"


class GroupResult(_StoredResult):
    """A saved Celery ``GroupResult`` (``GroupResult.save()``): its members' ids."""

    group_id = _id_field(_("group id"), _("The id Celery gave the group."), unique=True)
    date_created = _created_field(_("When the group was first saved."))
    date_done = _updated_field(_("When the group was last saved."))
    content_type = _content_type_field(_("How the result was serialized, e.g. application/json."))
    content_encoding = _content_encoding_field()
    result = _serialized_field(
        _("result"), _("The serialized group: its id and its members' result tuples.")
    )

    objects = GroupResultManager()

    #: ``as_dict``'s keys, as Celery's group meta names them.
    dict_fields: ClassVar[tuple[str, ...]] = ("group_id", "result", "date_done", "date_created")

    Meta = _result_meta(
        _("group result"),
        _("group results"),
        date_created="django_cele_date_cr_bd6c1d_idx",
        date_done="django_cele_date_do_caae0e_idx",
    )

    def __str__(self) -> str:
        return f"<Group: {self.group_id}>"
