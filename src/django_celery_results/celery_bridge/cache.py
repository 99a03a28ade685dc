"""``CacheBackend``: Celery's ``django-cache`` backend over the domain's KeyValueResultStore.

Each Celery hook is a few lines: ``cache_values`` turns Celery's ids, keys and values into
text and stored values, the key-value use cases (``domain/keyvalue``) over the store that the
composition root chose keep them, and ``chords`` holds the chord steps both backends share.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery, states
from celery.backends.base import KeyValueStoreBackend
from celery.result import GroupResult, result_from_tuple
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches

from ..domain import keyvalue
from ..domain.ports import KeyValueStore
from .cache_keys import KeyValueHooks
from .cache_values import (
    SERIALIZER,
    TEXT_SETTING,
    key_naming,
    stored_values,
    text_id,
    tuple_of_text_ids,
    values_as_text,
)
from .chord_size import chord_size
from .composition import configured_keyvalue_store
from .hooks import SharedHooks, StateWrite
from .recovery import RecoveryReport
from .retrying import retrying

__all__ = ["SERIALIZER", "TEXT_SETTING", "CacheBackend", "values_as_text"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class CacheBackend(SharedHooks, KeyValueHooks, KeyValueStoreBackend):
    """Celery result backend keeping results in a Django cache (``"django-cache"``).

    The cache is ``CACHES[alias]`` where ``alias`` is Celery's ``cache_backend`` setting
    (``CELERY_CACHE_BACKEND`` in Django settings read with the ``CELERY`` namespace, or that
    Django setting itself), the default cache otherwise. A ``store`` given at construction
    (any ``KeyValueStore``, e.g. ``MemoryKeyValueStore`` in a test) replaces the cache.

    Metas and groups go to the cache as Python objects, pickled by the cache whatever
    ``result_serializer`` and ``accept_content`` say (as the old package did); with
    ``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER = True`` they go as text serialized
    with ``result_serializer`` and are read back only within ``accept_content``.

    Chords count their header tasks in the cache where its increment is atomic (Redis,
    Memcached, local memory); elsewhere (database and file caches) Celery's polling
    ``chord_unlock`` task joins them.
    """

    # Set by Celery's Backend.__init__; declared because celery-types leaves them out.
    app: Celery
    serializer: str
    accept: set[str] | None
    expires: float | timedelta | None
    _cache: MutableMapping[str, Any]
    always_retry: bool
    max_retries: float
    base_sleep_between_retries_ms: int
    max_sleep_between_retries_ms: int

    #: The cache expires entries itself, so Celery beat schedules no ``backend_cleanup``.
    supports_autoexpire = True

    def __init__(
        self, app: Any, *args: Any, store: KeyValueStore | None = None, **kwargs: Any
    ) -> None:
        self._store = store
        self._results: keyvalue.KeyValueResultStore | None = None
        # Celery's __init__ reads ``implements_incr`` to rebind ``apply_chord``; ours dispatches
        # itself, so it reads False there and the store's capability is asked at first use
        # (after Django's settings are ready), not at construction.
        self._implements_incr: bool | None = False
        self._values_as_text = values_as_text()
        if not self._values_as_text:
            kwargs["serializer"] = SERIALIZER
        super().__init__(app, *args, **kwargs)
        self._implements_incr = None

    # -- composition -------------------------------------------------------------------------

    @property
    def cache_alias(self) -> str:
        """The alias in ``settings.CACHES`` this backend stores into."""
        alias = self.app.conf.get("cache_backend") or getattr(
            settings, "CELERY_CACHE_BACKEND", None
        )
        return str(alias or DEFAULT_CACHE_ALIAS)

    @property
    def cache_backend(self) -> BaseCache:
        """The configured Django cache (``caches[cache_alias]``, this thread's object)."""
        return caches[self.cache_alias]

    @property
    def store(self) -> KeyValueStore:
        """The key-value store behind this backend (``DJANGO_CELERY_RESULTS_KEYVALUE_STORE``).

        Built at first use, after Django's setup, unless one was given at construction.
        """
        if self._store is None:
            self._store = configured_keyvalue_store(self.cache_alias)
        return self._store

    @property
    def results(self) -> keyvalue.KeyValueResultStore:
        """The use cases over the store, with Celery's key prefixes (and global prefix)."""
        if self._results is None:
            self._results = keyvalue.KeyValueResultStore(
                self.store,
                key_naming(
                    self.task_keyprefix,
                    self.group_keyprefix,
                    self.chord_keyprefix,
                    self.store.max_key_length,
                ),
                stored_values(self.serializer, self.accept, self._values_as_text),
            )
        return self._results

    @property
    def implements_incr(self) -> bool:
        """Whether chords are counted here: the store's increment is atomic."""
        if self._implements_incr is None:
            self._implements_incr = self.store.atomic_increment
        return self._implements_incr

    @implements_incr.setter
    def implements_incr(self, value: bool) -> None:
        self._implements_incr = value

    # -- tasks -------------------------------------------------------------------------------

    def _write_state(self, write: StateWrite) -> bool:
        """Store a task's meta, never replacing its SUCCESS (see ``KeyValueResultStore``)."""
        meta: dict[str, Any] = self._get_result_meta(  # type: ignore[attr-defined]
            result=write.result, state=write.state, traceback=write.traceback, request=write.request
        )
        meta["task_id"] = text_id("task_id", write.task_id)
        return self.results.store_meta(meta["task_id"], meta, self._lifetime)

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        """The task's stored meta (its first SUCCESS if any); PENDING when nothing is stored."""
        meta = self.results.get_meta(text_id("task_id", task_id))
        if meta is None:
            return {"status": states.PENDING, "result": None}
        decoded: dict[str, Any] = self.meta_from_decoded(dict(meta))
        return decoded

    def task_result_exists(self, task_id: str) -> bool:
        """Whether anything is stored for ``task_id``."""
        return self.results.get_meta(text_id("task_id", task_id)) is not None

    def _forget(self, task_id: str) -> None:
        """Remove a task's meta."""
        self.results.forget(text_id("task_id", task_id))

    # -- native join -------------------------------------------------------------------------

    def _task_key(self, task_id: Any) -> str:
        """Celery hands some ids over as bytes; callers, ints and UUIDs."""
        return text_id("task_id", task_id)

    def _read_ready(
        self, pending: list[str], ready_states: frozenset[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """One ``get_many`` on the cache (both keys of each task) per poll."""
        for task_id, stored in self.results.get_metas(pending).items():
            if stored.get("status") in ready_states:
                yield task_id, self.meta_from_decoded(dict(stored))

    # -- groups ------------------------------------------------------------------------------

    def _save_group(self, group_id: str, result: GroupResult) -> GroupResult:
        """Save a group (its members' ids, as text), as Celery's key-value backends store it."""
        self.results.save_group(
            text_id("group_id", group_id), {"result": tuple_of_text_ids(result)}, self._lifetime
        )
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        """The saved group, or None for an unknown id (not an error)."""
        stored = self.results.get_group(text_id("group_id", group_id))
        if not stored:
            return None
        meta = dict(stored)
        meta["result"] = result_from_tuple(meta["result"], self.app)
        return meta

    def _delete_group(self, group_id: str) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.results.delete_group(text_id("group_id", group_id))

    # -- chords ------------------------------------------------------------------------------

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Start a chord: counted here where the increment is atomic, else by chord_unlock."""
        if self.implements_incr:
            self._apply_chord_incr(header_result_args, body, **kwargs)
        else:
            super().apply_chord(header_result_args, body, **kwargs)

    def _apply_chord_incr(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Save the chord's header (for the join) and start its counter, before it runs."""
        self.ensure_chords_allowed()
        header = self._chord_header_of(header_result_args)
        group_id = text_id("group_id", header.id)
        size = chord_size(header, body)
        lifetime = self._chord_lifetime
        self.results.save_group(group_id, {"result": tuple_of_text_ids(header)}, lifetime)
        self.results.start_chord(group_id, size, lifetime)
        self.results.remember_chord(group_id, dict(body), time.time(), lifetime)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """Count one header task, once; the one that counts the last sends the callback.

        Does nothing where chords are left to Celery's ``chord_unlock`` task.
        """
        if not self.implements_incr:
            return
        group_id, task_id = getattr(request, "group", None), getattr(request, "id", None)
        if not group_id or not task_id or not getattr(request, "chord", None):
            return
        group_id = text_id("group_id", group_id)
        # Celery calls this outside its retry loop: a part lost to a dropped connection would
        # leave the callback PENDING for good, so counting retries where Celery's would.
        part = self.results.count_part(
            group_id,
            text_id("task_id", task_id),
            self._chord_lifetime,
            retry=self._retrying if self.always_retry else None,
            on_uncertain=lambda exc: logger.warning(
                "Chord %r: the count of part %r failed (%r) and is not sent again: "
                "its part marks decide (else chord recovery, once every part is marked)",
                group_id,
                task_id,
                exc,
            ),
        )
        self._part_counted(request, group_id, part)

    def _retrying(self, step: Callable[[], _T]) -> _T:
        """``step()`` under Celery's retry settings (``retrying``), for ``count_part``."""
        return retrying(self, step, "Counting a chord part")

    # -- chord recovery ----------------------------------------------------------------------

    def chords_awaiting_recovery(self, grace: timedelta, limit: int = 100) -> list[str]:
        """The group ids recovery would send the callbacks of now (nothing is claimed)."""
        due = self._chords_to_recover(grace, limit)
        return [group_id for group_id, _ in due]

    def _chords_to_recover(self, grace: timedelta, limit: int) -> list[tuple[str, Any]]:
        if not self.implements_incr:
            return []  # chord_unlock polls these chords; there is nothing to recover
        return self.results.chords_to_recover(
            time.time(), grace.total_seconds(), self._chord_lifetime, limit
        )

    def recover_chords(self, grace: timedelta | None = None, limit: int = 100) -> RecoveryReport:
        """Send the callbacks of finished chords that no worker sent (see the database's).

        Chords are found through an index of the chords started each minute, kept in the cache
        for as long as the chords are; a claim that expires after ``grace`` makes exactly one
        process send each callback. Run it with ``manage.py recover_chords`` or the
        ``django_celery_results.recover_chords`` task (beat does not schedule Celery's
        ``backend_cleanup`` for caches, which expire entries themselves).
        """
        grace = self.chord_recovery_grace if grace is None else grace
        return self._recover(grace, due=lambda: self._chords_to_recover(grace, limit))

    def _claimer(self, grace: timedelta) -> Callable[[str], bool]:
        """Claims that expire after ``grace``, under one token per claimer."""
        # The shared steps retry a claim: the token tells our own lost reply from a rival.
        claim = uuid.uuid4().hex
        return lambda group_id: self.results.claim_callback(group_id, grace.total_seconds(), claim)

    def _callback_done(self, group_id: str) -> None:
        """Make the chord's claim permanent: its callback was dealt with."""
        self.results.callback_done(group_id, self._chord_lifetime)

    def _chord_header(self, group_id: str) -> GroupResult | None:
        """The chord's header as saved by ``apply_chord`` (None when deleted or expired)."""
        header = self.restore_group(group_id, cache=False)
        return header if isinstance(header, GroupResult) else None

    def _finish_chord(self, group_id: str, header: GroupResult | None) -> None:
        # With the header gone its members are unknown: their marks expire with the chord.
        members = [] if header is None else [r.id for r in header.results or []]
        self.results.finish_chord(group_id, members)
