"""``DatabaseBackend``: Celery's ``django-db`` result backend over the domain's ResultStore.

Each Celery hook is a few lines: ``task_meta.RecordTranslation`` turns Celery's requests and
metas into records and back, the ``ResultStore`` that the composition root built stores them,
and ``chords`` holds the chord steps both backends share.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, states
from celery.backends.base import BaseBackend
from celery.exceptions import BackendStoreError
from celery.result import GroupResult

from ..domain import codec
from ..domain.records import ChordCounter, PartCount
from ..domain.results import ResultStore
from .chord_size import chord_size
from .composition import DatabaseStores
from .hooks import SharedHooks, StateWrite
from .recovery import RecoveryReport
from .retention import configured_policy, expires_age, run_cleanup
from .retrying import retrying
from .serialization import KombuSerializer
from .task_meta import CeleryClock, RecordTranslation, pending_meta

__all__ = ["DatabaseBackend"]

logger = logging.getLogger(__name__)


class DatabaseBackend(SharedHooks, BaseBackend):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._serializer = KombuSerializer(self.serializer, self.accept)
        self._stores = DatabaseStores(CeleryClock(self.app))
        self._translation = RecordTranslation(
            self.app, self._serializer, self.current_task_children
        )

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
        # At first use: the models need Django's app registry, which a backend may precede.
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

    def _write_state(self, write: StateWrite) -> bool:
        """One conditional write of the task's record (``_store_result``'s storage step)."""
        record = self._translation.task_record(
            write.task_id, write.result, write.state, write.traceback, write.request
        )
        return self._store_for(write.using).store_task(record)

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        """The stored meta of ``task_id`` as Celery expects it; PENDING when nothing is stored."""
        record = self.result_store.get_task(task_id)
        if record is None:
            return pending_meta(task_id)
        meta: dict[str, Any] = self.meta_from_decoded(self._translation.task_meta(record))
        return meta

    def _forget(self, task_id: str) -> None:
        """Remove a task's result."""
        self.result_store.forget_task(task_id)

    def task_result_exists(self, task_id: str) -> bool:
        """Whether a state other than PENDING is stored for ``task_id``."""
        record = self.result_store.get_task(task_id)
        return record is not None and record.status != states.PENDING

    def _read_ready(
        self, pending: list[str], ready_states: frozenset[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The native join's poll: one ``SELECT`` per chunk of ids (``get_many``)."""
        for task_id, record in self.result_store.get_tasks(pending).items():
            if record.status in ready_states:
                yield task_id, self.meta_from_decoded(self._translation.task_meta(record))

    # -- groups ------------------------------------------------------------------------------

    def _save_group(self, group_id: str, group_result: GroupResult) -> GroupResult:
        """Save a group result (its members' ids) so ``GroupResult.restore`` finds it."""
        self.result_store.save_group(self._translation.group_record(group_id, group_result))
        return group_result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        """The saved group, or None for an unknown id (not an error)."""
        record = self.result_store.get_group(group_id)
        return None if record is None else self._translation.group_meta(record)

    def _delete_group(self, group_id: str) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.result_store.delete_group(group_id)

    # -- expiry ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Send unsent chord callbacks, then delete results as retention says.

        Celery's ``celery.backend_cleanup`` task calls this daily when beat runs. Without
        ``DJANGO_CELERY_RESULTS_RETENTION``: everything older than ``result_expires``;
        with it, each (state, task name) after its own age (``celery_bridge/retention.py``).
        """
        recovered = self.recover_chords()
        if recovered.sent or recovered.unreadable:
            logger.warning("Chord recovery: %s", recovered)
        policy = configured_policy()
        expires = expires_age(self.expires)
        if policy.is_empty:
            if expires is None:
                return
            report = self.result_store.delete_expired(expires)
            logger.info("Expired %d task results and %d group results", report.tasks, report.groups)
            return
        retained = run_cleanup(
            self.result_store, None, policy, policy.rules(expires), policy.default_age(expires)
        )
        logger.info(
            "Retention deleted %d task results and %s group results",
            retained.tasks,
            retained.groups,
        )

    # -- chords ------------------------------------------------------------------------------

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Start counting a chord's header tasks before they run."""
        header = self._chord_header_of(header_result_args)
        self.result_store.start_chord(
            ChordCounter(
                group_id=header.id,
                sub_tasks=json.dumps([r.as_tuple() for r in header]),
                count=chord_size(header, body),
                callback=self._translation.callback_text(body),
            )
        )

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
        statement on PostgreSQL; see ``_store_chord_part``). A subclass that overrides
        ``on_chord_part_return``, ``store_result`` or ``_store_result`` keeps Celery's two
        steps, so its override still runs.
        """
        group_id = getattr(request, "group", None)
        own_part = getattr(request, "chord", None) and getattr(request, "id", None) == task_id
        ignored = getattr(request, "ignore_result", False)
        if ignored or not (group_id and own_part and store_result and self._stores_parts_itself()):
            super().mark_as_done(task_id, result, request, store_result, state)
            return
        part = self._store_chord_part(task_id, result, state, request, str(group_id))
        self._part_counted(request, str(group_id), part)

    def _stores_parts_itself(self) -> bool:
        """Whether no subclass overrides a hook that the one-step chord part would bypass."""
        cls = type(self)
        return (
            cls.on_chord_part_return is DatabaseBackend.on_chord_part_return
            and cls.store_result is BaseBackend.store_result
            and cls._store_result is SharedHooks._store_result
        )

    def _store_chord_part(
        self, task_id: str, result: Any, state: str, request: Any, group_id: str
    ) -> PartCount:
        """Celery's ``store_result`` for a chord header task: stored and counted in one step.

        The same encoding and the same retries as Celery's (``result_backend_always_retry``),
        giving up with Celery's ``BackendStoreError``; returns how the part was counted.
        """
        encoded = self.encode_result(result, state)
        record = self._translation.task_record(task_id, encoded, state, None, request)
        written, part = retrying(
            self,
            lambda: self.result_store.store_chord_part(record, group_id),
            f"Storing task {task_id} of chord {group_id}",
            giving_up=lambda: _store_failed(task_id, state),
        )
        self._report_kept(written, task_id, state)
        return part

    def _claimer(self, grace: timedelta) -> Callable[[str], bool]:
        """Claims stamped with the time of each chord's first claim by this claimer."""
        store = self.result_store
        claims: dict[str, datetime] = {}
        # Each chord's claim keeps its time, so a retried claim recognises itself.
        return lambda group_id: store.claim_chord_callback(
            group_id, grace, claims.setdefault(group_id, store.now())
        )

    def _callback_done(self, group_id: str) -> None:
        """Mark the chord's counter done."""
        self.result_store.chord_callback_done(group_id)

    def _finish_chord(self, group_id: str, header: GroupResult | None) -> None:
        """Delete the chord's counter and counted parts."""
        self.result_store.finish_chord(group_id)

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
        return self._recover(
            grace,
            due=lambda: [
                (counter.group_id, self._translation.stored_callback(counter.callback))
                for counter in store.chords_to_recover(grace, limit)
            ],
        )

    def _chord_header(self, group_id: str) -> GroupResult | None:
        """The chord's header, from its counter's ``sub_tasks`` (None when the counter is gone)."""
        counter = self.result_store.get_chord(group_id)
        if counter is None:
            return None
        return self._translation.chord_header(group_id, counter.sub_tasks)


def _store_failed(task_id: str, state: str) -> Exception:
    """The error Celery's ``store_result`` gives up with, naming the task and the state."""
    return BackendStoreError(  # celery-types leaves out its keywords
        "failed to store result on the backend",
        task_id=task_id,  # type: ignore[call-arg]
        state=state,
    )
