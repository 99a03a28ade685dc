"""Model managers with the old package's public methods, written over the domain's ResultStore.

``TaskResult.objects.store_result(...)`` and friends are part of the interface user code calls
(admin actions, scripts, tests). Writes go through a ``ResultStore`` over the ORM repositories,
so they get the same single-statement upsert and transition policy as the Celery backend: a
stored SUCCESS is not overwritten by a late STARTED or FAILURE, even when the write comes
through the manager. This module does not choose that store: the composition root builds it
and the app's ``ready()`` hands the factory over (``provide_result_stores``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ...domain.ports import GroupRepository, TaskRepository
from ...domain.records import GroupRecord, TaskRecord
from ...domain.results import DEFAULT_EXPIRY_BATCH, ResultStore

if TYPE_CHECKING:
    from .models import GroupResult, TaskResult

__all__ = [
    "GroupResultManager",
    "ResultManager",
    "ResultStoreFactory",
    "TaskResultManager",
    "TxIsolationWarning",
    "provide_result_stores",
]

_M = TypeVar("_M", bound=models.Model)

#: Builds the ``ResultStore`` writing to a database alias (None: as the routers say).
ResultStoreFactory = Callable[[str | None], ResultStore]

_result_stores: list[ResultStoreFactory] = []


def provide_result_stores(factory: ResultStoreFactory) -> None:
    """Give the managers the factory of the stores they write through (the app's ``ready()``)."""
    _result_stores[:] = [factory]


def _result_store(using: str | None) -> ResultStore:
    if not _result_stores:
        raise ImproperlyConfigured(
            "The result managers have no ResultStore: add 'django_celery_results' to "
            "INSTALLED_APPS and run django.setup() before using them"
        )
    return _result_stores[0](using)


class TxIsolationWarning(UserWarning):
    """The results database reads under REPEATABLE READ, so polling may see a stale state.

    A client that polls ``AsyncResult.state`` inside one transaction keeps reading the snapshot
    its transaction started with; MySQL's default isolation level does that.
    """

    #: The warning's text.
    message = (
        "The results database uses REPEATABLE READ: a result polled inside one transaction "
        "may never change. Commit between polls, or use READ COMMITTED."
    )


def _as_timedelta(expires: timedelta | float) -> timedelta:
    # The old managers accepted seconds as well as a timedelta.
    return expires if isinstance(expires, timedelta) else timedelta(seconds=expires)


def _as_text(value: object) -> str | None:
    # The old backend handed binary payloads over as base64 *bytes*; store them as text.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return str(value)


def _as_aware(value: datetime | None) -> datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, timezone.get_default_timezone())


class ResultManager(models.Manager[_M]):
    """What both managers share: the connections they use, and expiry."""

    def connection_for_write(self) -> BaseDatabaseWrapper:
        """The connection writes of this model are routed to."""
        return connections[router.db_for_write(self.model)]

    def connection_for_read(self) -> BaseDatabaseWrapper:
        """The connection reads of this model use."""
        return connections[self.db]

    def current_engine(self) -> str:
        """The ``ENGINE`` setting of the database this manager reads from."""
        return str(connections[self.db].settings_dict["ENGINE"])

    def warn_if_repeatable_read(self) -> None:
        """Warn (``TxIsolationWarning``) when a MySQL/MariaDB read connection is REPEATABLE READ."""
        connection = self.connection_for_read()
        if connection.vendor != "mysql":
            return
        with connection.cursor() as cursor:
            # MariaDB calls the variable tx_isolation, MySQL 8 transaction_isolation.
            cursor.execute(
                "SHOW VARIABLES WHERE variable_name IN ('tx_isolation', 'transaction_isolation')"
            )
            row = cursor.fetchone()
        if row is not None and str(row[1]).upper() == "REPEATABLE-READ":
            warnings.warn(
                TxIsolationWarning(TxIsolationWarning.message),
                stacklevel=2,
            )

    def get_all_expired(self, expires: timedelta | float) -> models.QuerySet[_M]:
        """The rows whose ``date_done`` is older than ``expires`` (a timedelta or seconds)."""
        return self.filter(date_done__lt=timezone.now() - _as_timedelta(expires))

    def delete_expired(self, expires: timedelta | float) -> int:
        """Delete the expired rows (never loading them); return how many went.

        One ``DELETE`` on PostgreSQL and MySQL/MariaDB, batches on SQLite (see
        ``DjangoTaskRepository.expiry_batch_sizes``).
        """
        cutoff = datetime.now(dt_timezone.utc) - _as_timedelta(expires)
        repository = self._expiring_repository(_result_store(self._db))
        return repository.delete_done_before(cutoff, DEFAULT_EXPIRY_BATCH)

    def _expiring_repository(self, store: ResultStore) -> TaskRepository | GroupRepository:
        """The repository of this manager's rows in ``store``."""
        raise NotImplementedError

    def _get_or_new(self, **key: str) -> _M:
        """The row with this key, or a new unsaved one if none (the old ``get_task``)."""
        try:
            return self.get(**key)
        except ObjectDoesNotExist:
            return self.model(**key)

    def _written(self, alias: str | None, **key: str) -> _M:
        """The row just written through ``alias`` (or where the routers send writes)."""
        # Read back from the database just written (a read replica may lag behind).
        written: _M = self.db_manager(alias or router.db_for_write(self.model)).get(**key)
        return written


class TaskResultManager(ResultManager["TaskResult"]):
    """Manager of ``TaskResult``: the old package's ``get_task`` / ``store_result`` API."""

    def _expiring_repository(self, store: ResultStore) -> TaskRepository:
        return store.tasks

    def get_task(self, task_id: str) -> TaskResult:
        """The stored result of ``task_id``, or a new unsaved one (state PENDING) if none."""
        return self._get_or_new(task_id=task_id)

    def store_result(
        self,
        content_type: str,
        content_encoding: str,
        task_id: str,
        result: Any,
        status: str,
        traceback: str | None = None,
        meta: Any = None,
        periodic_task_name: str | None = None,
        task_name: str | None = None,
        task_args: Any = None,
        task_kwargs: Any = None,
        worker: str | None = None,
        using: str | None = None,
        **kwargs: Any,
    ) -> TaskResult:
        """Store one state of ``task_id`` (one upsert) and return the stored row.

        ``result`` and ``meta`` are already serialized. ``kwargs`` may carry ``date_started``;
        anything else is accepted and ignored, as the old manager did. A state that the stored
        one blocks (see ``states.blocking_states``) is not written; the stored row is returned.
        Raises ``InvalidRecordError`` when a value is longer than its column.
        """
        alias = using or self._db
        record = TaskRecord(
            task_id=task_id,
            status=status,
            content_type=content_type,
            content_encoding=content_encoding,
            result=_as_text(result),
            traceback=_as_text(traceback),
            meta=_as_text(meta),
            periodic_task_name=periodic_task_name,
            task_name=task_name,
            task_args=_as_text(task_args),
            task_kwargs=_as_text(task_kwargs),
            worker=worker,
            date_started=_as_aware(kwargs.get("date_started")),
        )
        _result_store(alias).store_task(record)
        return self._written(alias, task_id=task_id)


class GroupResultManager(ResultManager["GroupResult"]):
    """Manager of ``GroupResult``: the old package's ``get_group`` / ``store_group_result``."""

    def store_group_result(
        self,
        content_type: str,
        content_encoding: str,
        group_id: str,
        result: Any,
        using: str | None = None,
    ) -> GroupResult:
        """Insert or replace the group (one upsert, ``date_created`` kept); return the row."""
        alias = using or self._db
        record = GroupRecord(
            group_id=group_id,
            content_type=content_type,
            content_encoding=content_encoding,
            result=_as_text(result),
        )
        _result_store(alias).save_group(record)
        return self._written(alias, group_id=group_id)

    def _expiring_repository(self, store: ResultStore) -> GroupRepository:
        return store.groups

    def get_group(self, group_id: str) -> GroupResult:
        """The stored group ``group_id``, or a new unsaved one if none."""
        return self._get_or_new(group_id=group_id)
