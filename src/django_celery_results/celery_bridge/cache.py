"""``CacheBackend``: Celery's ``django-cache`` result backend over the domain's KeyValueResults."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery, states
from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import ChordError
from celery.result import GroupResult, result_from_tuple
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.utils.encoding import bytes_to_str

from ..domain import keyvalue
from ..domain.errors import InvalidRecordError
from ..domain.ports import KeyValueStore
from ..domain.retry import RetryPolicy
from .chord_size import chord_size
from .chords import on_part_counted, recover_chords
from .composition import configured_keyvalue_store
from .polling import NativeJoin
from .recovery import RecoveryReport, chord_recovery_grace
from .retrying import retrying
from .serialization import KombuSerializer

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The serializer the old package fixed for this backend, whatever ``result_serializer`` says:
#: metas go to the cache as Python objects (Django's cache pickles them), so results and
#: exception instances come back unchanged. Still the default (see ``TEXT_SETTING``).
SERIALIZER = "pickle"

#: The Django setting that, when True, stores metas and groups as text serialized with
#: Celery's ``result_serializer`` and reads them back only within ``accept_content`` (or
#: ``result_accept_content``), instead of as Python objects that the cache pickles.
TEXT_SETTING = "DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER"


def values_as_text() -> bool:
    """Whether ``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER`` is on (default False)."""
    value = getattr(settings, TEXT_SETTING, False)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{TEXT_SETTING} must be True or False, got {value!r}")
    return value


class _CacheSerializer(KombuSerializer):
    """Celery's serializer, whose refusals (content not accepted, bad payload) are domain errors."""

    def loads(self, payload: str | bytes, content_type: str, content_encoding: str) -> Any:
        """Deserialize a stored payload of an accepted content type, or raise InvalidRecordError."""
        try:
            return super().loads(payload, content_type, content_encoding)
        except (ContentDisallowed, DecodeError) as exc:
            raise InvalidRecordError(
                "value", f"a stored {content_type} value was not read: {exc}"
            ) from exc


class CacheBackend(NativeJoin, KeyValueStoreBackend):
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

    #: ``GroupResult.join_native`` reads every pending member in one ``get_many`` per poll.
    supports_native_join = True
    #: The cache expires entries itself, so Celery beat schedules no ``backend_cleanup``.
    supports_autoexpire = True

    def __init__(
        self, app: Any, *args: Any, store: KeyValueStore | None = None, **kwargs: Any
    ) -> None:
        self._store = store
        self._results: keyvalue.KeyValueResults | None = None
        # Celery's __init__ reads ``implements_incr`` to rebind ``apply_chord``; ours dispatches
        # itself, so it reads False there and the store's capability is asked at first use
        # (after Django's settings are ready), not at construction.
        self._implements_incr: bool | None = False
        self._values_as_text = values_as_text()
        if not self._values_as_text:
            kwargs["serializer"] = SERIALIZER
        super().__init__(app, *args, **kwargs)
        self._implements_incr = None
        self._retry_policy = RetryPolicy()

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
    def results(self) -> keyvalue.KeyValueResults:
        """The use cases over the store, with Celery's key prefixes (and global prefix)."""
        if self._results is None:
            self._results = keyvalue.KeyValueResults(
                self.store, self._naming(), self._stored_values()
            )
        return self._results

    def _stored_values(self) -> keyvalue.StoredValues:
        # Text entries are read by their own content type within ``accept`` in both modes, so
        # switching the setting off again leaves what was written under it readable. A Python
        # object is what the cache unpickled: read in text mode only if pickle is accepted.
        serializer = _CacheSerializer(self.serializer, self.accept)
        if not self._values_as_text:
            return keyvalue.StoredValues(serializer=serializer)
        return keyvalue.StoredValues(
            serializer=serializer,
            write_text=True,
            read_objects=keyvalue.PICKLE_CONTENT_TYPE in (self.accept or ()),
        )

    def _naming(self) -> keyvalue.KeyNaming:
        # Celery has put ``result_backend_transport_options["global_keyprefix"]`` in front of
        # its three prefixes; ours get the same.
        task_prefix = bytes_to_str(self.task_keyprefix)
        shared = task_prefix[: -len(keyvalue.TASK_PREFIX)]
        return keyvalue.KeyNaming(
            task_prefix=task_prefix,
            group_prefix=bytes_to_str(self.group_keyprefix),
            chord_prefix=bytes_to_str(self.chord_keyprefix),
            final_prefix=shared + keyvalue.FINAL_PREFIX,
            part_prefix=shared + keyvalue.PART_PREFIX,
            recovery_prefix=shared + keyvalue.RECOVERY_PREFIX,
            max_length=self.store.max_key_length,
        )

    @property
    def implements_incr(self) -> bool:
        """Whether chords are counted here: the store's increment is atomic."""
        if self._implements_incr is None:
            self._implements_incr = self.store.atomic_increment
        return self._implements_incr

    @implements_incr.setter
    def implements_incr(self, value: bool) -> None:
        self._implements_incr = value

    @property
    def _lifetime(self) -> float | None:
        return keyvalue.lifetime(self.expires)

    @property
    def _chord_lifetime(self) -> float | None:
        return keyvalue.chord_lifetime(self.expires, self.app.conf.get("result_chord_expires"))

    # -- Celery's key-value hooks, on string keys ------------------------------------------

    def get_key_for_task(self, task_id: str, key: str = "") -> str:
        """The key of a task's meta (Celery's ``celery-task-meta-<id>`` for plain ids)."""
        return self.results.naming.task_key(_id("task_id", task_id) + _text(key))

    def get_key_for_group(self, group_id: str, key: str = "") -> str:
        """The key of a saved group."""
        return self.results.naming.group_key(_id("group_id", group_id) + _text(key))

    def get_key_for_chord(self, group_id: str, key: str = "") -> str:
        """The key of a chord's counter."""
        return self.results.naming.chord_key(_id("group_id", group_id) + _text(key))

    def encode(self, data: Any) -> Any:
        """``data`` as stored: as it is (the cache pickles it), or serialized text."""
        return self.results.values.dump(data)

    def decode(self, payload: Any) -> Any:
        """A stored value back: as it is, or decoded from text within ``accept_content``."""
        return self.results.values.load(payload, "<payload>")

    def get(self, key: str | bytes) -> Any:
        """The value under ``key``, or None."""
        return self.store.get(_text(key))

    def mget(self, keys: Iterable[str | bytes]) -> list[Any]:
        """The values under ``keys``, in order (None where absent), in one round trip."""
        names = [_text(key) for key in keys]
        found = self.store.get_many(names)
        return [found.get(name) for name in names]

    def set(self, key: str | bytes, value: Any) -> None:
        """Store ``value`` under ``key`` for ``result_expires`` (0 or None: never expire)."""
        self.store.set(_text(key), value, self._lifetime)

    def delete(self, key: str | bytes) -> None:
        """Remove ``key``; an absent key is not an error."""
        self.store.delete(_text(key))

    def incr(self, key: str | bytes) -> int:
        """Add one to the counter under ``key`` (created at 1 when absent) and return it."""
        name = _text(key)
        value = self.store.incr(name, 1)
        if value is None:
            if self.store.add(name, 1, self._lifetime):
                return 1
            value = self.store.incr(name, 1)
        return int(value or 0)

    def expire(self, key: str | bytes, value: float | timedelta | None) -> None:
        """Give ``key`` a lifetime of ``value`` seconds (0 or None: never expire)."""
        self.store.touch(_text(key), keyvalue.lifetime(value))

    # -- tasks -------------------------------------------------------------------------------

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Store a task's meta, never replacing its SUCCESS (see ``KeyValueResults``)."""
        meta: dict[str, Any] = self._get_result_meta(  # type: ignore[attr-defined]
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = _id("task_id", task_id)
        if not self.results.store_meta(meta["task_id"], meta, self._lifetime):
            logger.info(
                "Result of task %s kept as stored: state %s may not replace it", task_id, state
            )
        return result

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        """The task's stored meta (its first SUCCESS if any); PENDING when nothing is stored."""
        meta = self.results.get_meta(_id("task_id", task_id))
        if meta is None:
            return {"status": states.PENDING, "result": None}
        decoded: dict[str, Any] = self.meta_from_decoded(dict(meta))
        return decoded

    def task_result_exists(self, task_id: str) -> bool:
        """Whether anything is stored for ``task_id``."""
        return self.results.get_meta(_id("task_id", task_id)) is not None

    def _forget(self, task_id: str) -> None:
        """Remove a task's meta."""
        self.results.forget(_id("task_id", task_id))

    # -- native join -------------------------------------------------------------------------

    def _task_key(self, task_id: Any) -> str:
        """Celery hands some ids over as bytes; callers, ints and UUIDs."""
        return _id("task_id", task_id)

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
            _id("group_id", group_id), {"result": _tuple_of_text_ids(result)}, self._lifetime
        )
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        """The saved group, or None for an unknown id (not an error)."""
        stored = self.results.get_group(_id("group_id", group_id))
        if not stored:
            return None
        meta = dict(stored)
        meta["result"] = result_from_tuple(meta["result"], self.app)
        return meta

    def _delete_group(self, group_id: str) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.results.delete_group(_id("group_id", group_id))

    # -- retries -----------------------------------------------------------------------------

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        """Whether Celery's ``result_backend_always_retry`` loop may retry after ``exc``.

        Only transient cache failures qualify: the server could not be reached, timed out, was
        loading or failing over.
        """
        return self._retry_policy.is_retryable(exc)

    def _retrying(self, step: Callable[[], _T]) -> _T:
        """``step()`` under Celery's retry settings (``retrying``), for ``count_part``."""
        return retrying(self, step, "Counting a chord part")

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
        header = (
            header_result_args
            if isinstance(header_result_args, GroupResult)
            else self.app.GroupResult(*header_result_args)
        )
        if not header.id:
            raise ChordError("A chord header needs a group id to be counted")
        group_id = _id("group_id", header.id)
        size = chord_size(header, body)
        lifetime = self._chord_lifetime
        self.results.save_group(group_id, {"result": _tuple_of_text_ids(header)}, lifetime)
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
        group_id = _id("group_id", group_id)
        # Celery calls this outside its retry loop: a part lost to a dropped connection would
        # leave the callback PENDING for good, so counting retries where Celery's would.
        part = self.results.count_part(
            group_id,
            _id("task_id", task_id),
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
        # The shared step retries the claim: its token tells our own lost reply from a rival.
        claim = uuid.uuid4().hex
        on_part_counted(
            self,
            request,
            group_id,
            part,
            read_header=lambda: self._chord_header(group_id),
            finish_chord=lambda header: self._finish_chord(group_id, header),
            claim_callback=lambda: self.results.claim_callback(
                group_id, self.chord_recovery_grace.total_seconds(), claim
            ),
            callback_done=lambda: self.results.callback_done(group_id, self._chord_lifetime),
        )

    # -- chord recovery ----------------------------------------------------------------------

    @property
    def chord_recovery_grace(self) -> timedelta:
        """How long a finished chord's callback may go unsent before recovery sends it."""
        return chord_recovery_grace()

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
        claim = uuid.uuid4().hex  # as in on_chord_part_return: one token per claimer
        return recover_chords(
            self,
            grace,
            due=lambda: self._chords_to_recover(grace, limit),
            claim_callback=lambda group_id: self.results.claim_callback(
                group_id, grace.total_seconds(), claim
            ),
            read_header=self._chord_header,
            callback_done=lambda group_id: self.results.callback_done(
                group_id, self._chord_lifetime
            ),
            finish_chord=self._finish_chord,
        )

    def _chord_header(self, group_id: str) -> GroupResult | None:
        """The chord's header as saved by ``apply_chord`` (None when deleted or expired)."""
        header = self.restore_group(group_id, cache=False)
        return header if isinstance(header, GroupResult) else None

    def _finish_chord(self, group_id: str, header: GroupResult | None) -> None:
        # With the header gone its members are unknown: their marks expire with the chord.
        members = [] if header is None else [r.id for r in header.results or []]
        self.results.finish_chord(group_id, members)


def _text(key: str | bytes) -> str:
    # Celery hands some ids and keys over as bytes (its default ``key_t``).
    return key.decode("utf-8") if isinstance(key, bytes) else str(key)


def _id(field: str, ident: Any) -> str:
    """A task or group id as text: bytes decoded, ints and UUIDs as their ``str()``.

    The old package stored ``str(id)`` for the ints and ``uuid.UUID`` objects that callers
    hand to ``store_result`` or ``GroupResult``; anything else is an InvalidRecordError.
    """
    return keyvalue.id_text(field, _text(ident) if isinstance(ident, bytes) else ident)


def _tuple_of_text_ids(result: Any) -> Any:
    """``result.as_tuple()`` with every id (the group's, its members', their parents') as text.

    A group saved with UUID or int ids restores with the ``str`` ids that its members' results
    are stored under.
    """
    return _text_ids(result.as_tuple())


def _text_ids(node: Any) -> Any:
    (ident, parent), children = node
    return (
        (_id("task_id", ident), parent and _text_ids(parent)),
        None if children is None else [_text_ids(child) for child in children],
    )
