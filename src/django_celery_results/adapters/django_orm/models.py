"""The three tables of the ``django-db`` backend, column for column the old package's schema.

Field names, types, widths, nullability and index names are an interface: a database created by
``django-celery-results`` 2.x must keep working after switching packages, so they may only
change together with a new migration. The wording of labels and help texts is ours.

That is also why text columns are nullable (``DJ001``): NULL is what the old package stores for
"not recorded", and existing rows hold it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .managers import GroupResultManager, TaskResultManager

if TYPE_CHECKING:
    from celery import Celery
    from celery.result import GroupResult as CeleryGroupResult

__all__ = ["ID_MAX_LENGTH", "ChordCounter", "ChordPart", "GroupResult", "TaskResult"]

#: Width of the task and group id columns (and of ``task_name``). MySQL/MariaDB users with an
#: old ``utf8mb4`` setup lower it to 191 so a unique index fits in 767 bytes; the migrations read
#: the same setting, so the schema and the models always agree.
ID_MAX_LENGTH: int = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)


class TaskResult(models.Model):
    """The latest stored state of one Celery task."""

    task_id = models.CharField(
        _("task id"),
        max_length=ID_MAX_LENGTH,
        unique=True,
        help_text=_("The id Celery gave the task."),
    )
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
    content_type = models.CharField(
        _("content type"),
        max_length=128,
        help_text=_("How the result and meta were serialized, e.g. application/json."),
    )
    content_encoding = models.CharField(
        _("content encoding"),
        max_length=64,
        help_text=_("The text encoding of the serialized data (binary means base64)."),
    )
    result = models.TextField(  # noqa: DJ001
        _("result"),
        null=True,
        default=None,
        editable=False,
        help_text=_("The serialized return value, or exception of a failed task."),
    )
    date_created = models.DateTimeField(
        _("created at"),
        auto_now_add=True,
        help_text=_("When the first state of the task was stored."),
    )
    date_started = models.DateTimeField(
        _("started at"),
        null=True,
        default=None,
        help_text=_("When a worker started the task."),
    )
    date_done = models.DateTimeField(
        _("updated at"),
        auto_now=True,
        help_text=_("When the current state was stored (the finish time of a finished task)."),
    )
    traceback = models.TextField(  # noqa: DJ001
        _("traceback"),
        blank=True,
        null=True,
        help_text=_("The traceback of a failed task."),
    )
    meta = models.TextField(  # noqa: DJ001
        _("meta"),
        null=True,
        default=None,
        editable=False,
        help_text=_("Serialized extra information: children, custom meta of the request."),
    )

    objects = TaskResultManager()

    class Meta:
        """Names, default ordering and the named indexes of the old schema."""

        verbose_name = _("task result")
        verbose_name_plural = _("task results")
        ordering = ["-date_done"]  # noqa: RUF012 - Django reads Meta once; a list as in the migrations
        # The names are the ones the old package's migrations created; renaming one would
        # make every existing database need a migration.
        indexes = [  # noqa: RUF012 - Django reads Meta once
            models.Index(fields=["task_name"], name="django_cele_task_na_08aec9_idx"),
            models.Index(fields=["status"], name="django_cele_status_9b6201_idx"),
            models.Index(fields=["worker"], name="django_cele_worker_d54dd8_idx"),
            models.Index(fields=["date_created"], name="django_cele_date_cr_f04a50_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_f59aad_idx"),
            models.Index(fields=["periodic_task_name"], name="django_cele_periodi_1993cf_idx"),
        ]

    def __str__(self) -> str:
        return f"<Task: {self.task_id} ({self.status})>"

    def as_dict(self) -> dict[str, Any]:
        """The stored fields by name, as Celery's task meta names them."""
        return {
            "task_id": self.task_id,
            "task_name": self.task_name,
            "task_args": self.task_args,
            "task_kwargs": self.task_kwargs,
            "status": self.status,
            "result": self.result,
            "date_done": self.date_done,
            "traceback": self.traceback,
            "meta": self.meta,
            "worker": self.worker,
            "date_created": self.date_created,
            "date_started": self.date_started,
            "periodic_task_name": self.periodic_task_name,
        }


class ChordCounter(models.Model):
    """How many header tasks of a chord have not reported yet (the ``django-db`` chord join)."""

    group_id = models.CharField(
        _("group id"),
        max_length=ID_MAX_LENGTH,
        unique=True,
        help_text=_("The id of the chord's header group."),
    )
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
    date_claimed = models.DateTimeField(
        _("callback claimed"),
        null=True,
        blank=True,
        default=None,
        help_text=_("When a worker or recovery took on sending the callback."),
    )
    date_done = models.DateTimeField(
        _("callback done"),
        null=True,
        blank=True,
        default=None,
        help_text=_("When the callback was sent, or its ChordError stored."),
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

    group_id = models.CharField(
        _("group id"),
        max_length=ID_MAX_LENGTH,
        help_text=_("The id of the chord's header group."),
    )
    task_id = models.CharField(
        _("task id"),
        max_length=ID_MAX_LENGTH,
        help_text=_("The header task that was counted."),
    )
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


class GroupResult(models.Model):
    """A saved Celery ``GroupResult`` (``GroupResult.save()``): its members' ids."""

    group_id = models.CharField(
        _("group id"),
        max_length=ID_MAX_LENGTH,
        unique=True,
        help_text=_("The id Celery gave the group."),
    )
    date_created = models.DateTimeField(
        _("created at"),
        auto_now_add=True,
        help_text=_("When the group was first saved."),
    )
    date_done = models.DateTimeField(
        _("updated at"),
        auto_now=True,
        help_text=_("When the group was last saved."),
    )
    content_type = models.CharField(
        _("content type"),
        max_length=128,
        help_text=_("How the result was serialized, e.g. application/json."),
    )
    content_encoding = models.CharField(
        _("content encoding"),
        max_length=64,
        help_text=_("The text encoding of the serialized data (binary means base64)."),
    )
    result = models.TextField(  # noqa: DJ001
        _("result"),
        null=True,
        default=None,
        editable=False,
        help_text=_("The serialized group: its id and its members' result tuples."),
    )

    objects = GroupResultManager()

    class Meta:
        """Names, default ordering and the named indexes of the old schema."""

        verbose_name = _("group result")
        verbose_name_plural = _("group results")
        ordering = ["-date_done"]  # noqa: RUF012 - Django reads Meta once; a list as in the migrations
        indexes = [  # noqa: RUF012 - Django reads Meta once
            models.Index(fields=["date_created"], name="django_cele_date_cr_bd6c1d_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_caae0e_idx"),
        ]

    def __str__(self) -> str:
        return f"<Group: {self.group_id}>"

    def as_dict(self) -> dict[str, Any]:
        """The stored fields by name, as Celery's group meta names them."""
        return {
            "group_id": self.group_id,
            "result": self.result,
            "date_done": self.date_done,
            "date_created": self.date_created,
        }
