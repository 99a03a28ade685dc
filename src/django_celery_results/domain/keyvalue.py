"""Results in a key-value store: key names, the transition policy on stored metas, chord counts.

The ``django-cache`` backend keeps each task's Celery meta (the mapping ``AsyncResult`` reads:
``status``, ``result``, ``traceback``, ...) as one value under a key, as the old package did, so
entries it wrote read back. What a cache cannot do in one step is made safe here:

- **A SUCCESS is final.** A cache has no conditional write, so read-then-write cannot stop a late
  STARTED or FAILURE landing on a SUCCESS. The first SUCCESS is therefore also *added* (set if
  absent, which Redis, Memcached, local memory and the database cache do atomically) under a
  second key that nothing ever overwrites, and readers prefer it. Both keys are read together in
  one ``get_many``. What remains of the race is written in ``KeyValueResults.store_meta``.
- **Chords count each header task once** with an atomic decrement, so no polling unlock task is
  needed where the store declares ``atomic_increment``. Through transient failures too: a
  retried mark knows its own token, and a decrement whose reply was lost is never repeated
  (the chord is flagged uncertain and its part marks decide; see ``count_part``).
- **Keys are plain ASCII** that every Django cache accepts: ids with spaces, control or non-ASCII
  characters are percent-encoded, and keys too long for memcached are shortened to a digest.
  Ids given as ints or UUIDs are their ``str()``.
- **Values are Python objects or serialized text** (``StoredValues``): objects by default (the
  store pickles them, as the old package's did), or text in the result serializer's content
  type, read back only where that type is accepted, so the store's content is not trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Final, Protocol, TypeVar

import attrs

from . import codec, states
from .errors import InvalidRecordError, StorageError, TransientStorageError
from .ports import KeyValueStore, Serializer
from .records import PartCount

#: Celery's key prefixes (``BaseKeyValueStoreBackend``), kept so existing entries read back.
TASK_PREFIX: Final = "celery-task-meta-"
GROUP_PREFIX: Final = "celery-taskset-meta-"
CHORD_PREFIX: Final = "chord-unlock-"
#: Ours: the first SUCCESS of a task, and the header tasks a chord has counted.
FINAL_PREFIX: Final = "celery-task-final-"
PART_PREFIX: Final = "celery-chord-part-"
#: Ours: what chord recovery needs (a chord's callback, its claim, the index of chords).
RECOVERY_PREFIX: Final = "celery-chord-recovery-"

#: Chords are listed for recovery in buckets of this many seconds of their start time.
RECOVERY_BUCKET_SECONDS: Final = 60
#: How far back recovery looks when chords never expire (``result_expires`` unset).
RECOVERY_HORIZON_SECONDS: Final = 24 * 3600
#: The values of a chord's claim: being sent (expires after the grace period), and done.
CLAIMED: Final = "claimed"
CALLBACK_DONE: Final = "done"

#: memcached's key limit; the database cache's key column is 255, so this suits every cache.
DEFAULT_MAX_KEY_LENGTH: Final = 250

#: A chord's counter runs down from ``CHORD_COUNT_FLOOR + size`` to the floor, not to zero:
#: memcached's decrement stops at zero, so a count that ran past its end would read zero again
#: and fire the callback a second time. Well inside the 64-bit counters of every store.
CHORD_COUNT_FLOOR: Final = 1 << 32

#: With retries on, a part whose count leaves at most this many to go reads the chord's
#: uncertain flag (one read each, so a few per chord): one cut that drops every connection at
#: once can lose the decrements of several workers, each leaving the counter one more short.
SHORT_COUNTS_CHECKED: Final = 4

#: The value of a chord's uncertain flag (``KeyNaming.uncertain_key``; only its presence counts).
UNCERTAIN: Final = "uncertain"

#: Characters kept as they are in keys: printable ASCII but the space and ``%`` (the escape).
_KEPT: Final = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"%"}
#: Marks a digest in a key; never produced by escaping, where ``%`` is followed by hex digits.
_DIGEST_MARK: Final = "%%"
_DIGEST_LENGTH: Final = 64  # sha256 in hex

Meta = Mapping[str, Any]

#: What a task or group id may be given as: Celery's ids are ``str``, but callers hand over
#: ints and ``uuid.UUID`` objects too (the old package stored their ``str()``), and so do we.
Ident = str | int | uuid.UUID

_T = TypeVar("_T")


class Retry(Protocol):
    """Runs one storage step, running it again after a transient failure, as a policy says.

    The caller owns the policy (how often, how long to wait); the use cases say which steps
    may be run again, and what a step that failed after the server applied it means.
    """

    def __call__(self, step: Callable[[], _T]) -> _T:
        """``step()``'s value; its last failure when the policy gives up."""
        ...


def escape_id(ident: str, *, also: str = "") -> str:
    """``ident`` with every character a cache key may not hold percent-encoded (UTF-8 bytes).

    Kept: printable ASCII except space and ``%``; ``also`` names more characters to encode
    (a separator). The encoding is one-to-one, so distinct ids never share a key.
    """
    return "".join(
        char
        if char in _KEPT and char not in also
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in ident
    )


def _safe_prefix(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or any(char not in _KEPT for char in value):
        raise InvalidRecordError(
            attribute.name,
            f"a key prefix must be non-empty printable ASCII without spaces or '%', got {value!r}",
        )


def _key_room(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRecordError(attribute.name, f"must be a whole number >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class KeyNaming:
    """Names the keys of task results, groups and chord counters.

    A key is the prefix followed by the escaped id (``escape_id``); when that is longer than
    ``max_length``, by ``%%`` and the id's SHA-256 instead, so the key still fits and stays
    unique. UUID ids keep Celery's keys exactly (``celery-task-meta-<id>``).

    Attributes:
        task_prefix: the latest stored meta of a task.
        final_prefix: the first SUCCESS of a task, never overwritten.
        group_prefix: a saved group result (and a chord's header).
        chord_prefix: a chord's counter.
        part_prefix: the marker of one counted header task of a chord.
        recovery_prefix: a chord's callback and claim, and the index of chords by start time.
        max_length: the longest key the store takes unchanged (``KeyValueStore.max_key_length``).
    """

    task_prefix: str = attrs.field(default=TASK_PREFIX, validator=_safe_prefix)
    final_prefix: str = attrs.field(default=FINAL_PREFIX, validator=_safe_prefix)
    group_prefix: str = attrs.field(default=GROUP_PREFIX, validator=_safe_prefix)
    chord_prefix: str = attrs.field(default=CHORD_PREFIX, validator=_safe_prefix)
    part_prefix: str = attrs.field(default=PART_PREFIX, validator=_safe_prefix)
    recovery_prefix: str = attrs.field(default=RECOVERY_PREFIX, validator=_safe_prefix)
    max_length: int = attrs.field(default=DEFAULT_MAX_KEY_LENGTH, validator=_key_room)

    def __attrs_post_init__(self) -> None:
        prefixes = (
            self.task_prefix,
            self.final_prefix,
            self.group_prefix,
            self.chord_prefix,
            self.part_prefix,
            self.recovery_prefix,
        )
        if len(set(prefixes)) != len(prefixes):
            raise InvalidRecordError("prefix", f"key prefixes must differ, got {prefixes!r}")
        longest = max(prefixes, key=len)
        if len(longest) + len(_DIGEST_MARK) + _DIGEST_LENGTH > self.max_length:
            raise InvalidRecordError(
                "max_length",
                f"{self.max_length} leaves no room for a key after the prefix {longest!r}",
            )
        for shorter in prefixes:
            for longer in prefixes:
                if shorter is not longer and longer.startswith(shorter):
                    raise InvalidRecordError(
                        "prefix", f"{longer!r} starts with {shorter!r}: their keys could collide"
                    )

    def task_key(self, task_id: Ident) -> str:
        """The key of a task's latest stored meta."""
        return self._key(self.task_prefix, id_text("task_id", task_id))

    def final_key(self, task_id: Ident) -> str:
        """The key of a task's first SUCCESS."""
        return self._key(self.final_prefix, id_text("task_id", task_id))

    def group_key(self, group_id: Ident) -> str:
        """The key of a saved group result."""
        return self._key(self.group_prefix, id_text("group_id", group_id))

    def chord_key(self, group_id: Ident) -> str:
        """The key of a chord's counter."""
        return self._key(self.chord_prefix, id_text("group_id", group_id))

    def part_key(self, group_id: Ident, task_id: Ident) -> str:
        """The key marking header task ``task_id`` of chord ``group_id`` as counted."""
        # "/" separates the two ids and is escaped inside them, so no pair shares a key.
        pair = (
            f"{escape_id(id_text('group_id', group_id), also='/')}"
            f"/{escape_id(id_text('task_id', task_id), also='/')}"
        )
        return self._fit(self.part_prefix, pair)

    def callback_key(self, group_id: Ident) -> str:
        """The key of a chord's callback, kept for recovery."""
        return self._fit(self.recovery_prefix, "callback/" + self._group(group_id))

    def uncertain_key(self, group_id: Ident) -> str:
        """The key flagging a chord one of whose decrements may or may not have been applied."""
        return self._fit(self.recovery_prefix, "uncertain/" + self._group(group_id))

    def claim_key(self, group_id: Ident) -> str:
        """The key of a chord's claim: who sends its callback, or that it was sent."""
        return self._fit(self.recovery_prefix, "claim/" + self._group(group_id))

    def index_count_key(self, bucket: int) -> str:
        """The key counting the chords started in time bucket ``bucket``."""
        return f"{self.recovery_prefix}index/{int(bucket)}"

    def index_slot_key(self, bucket: int, slot: int) -> str:
        """The key of the ``slot``-th chord started in time bucket ``bucket``."""
        return f"{self.recovery_prefix}index/{int(bucket)}/{int(slot)}"

    def _group(self, group_id: Ident) -> str:
        return escape_id(id_text("group_id", group_id), also="/")

    def _key(self, prefix: str, ident: str) -> str:
        return self._fit(prefix, escape_id(ident))

    def _fit(self, prefix: str, escaped: str) -> str:
        if len(prefix) + len(escaped) <= self.max_length:
            return prefix + escaped
        # The escaped text is ASCII and one-to-one with the id(s), so its digest is too.
        digest = hashlib.sha256(escaped.encode("ascii")).hexdigest()
        return f"{prefix}{_DIGEST_MARK}{digest}"


def id_text(field: str, ident: Ident) -> str:
    """``ident`` as key text: a ``str`` as it is, an int or a UUID as its ``str()``.

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


def lifetime(expires: float | timedelta | None) -> float | None:
    """The store timeout for Celery's ``result_expires``: None (never expire) for 0 or None.

    Django reads a timeout of 0 as "do not store at all", which made the old package keep
    nothing when ``result_expires = 0``; here 0, None and negative values all mean "keep".
    """
    if isinstance(expires, timedelta):
        expires = expires.total_seconds()
    if expires is None or expires <= 0:
        return None
    return expires


def chord_lifetime(
    result_expires: float | timedelta | None, chord_expires: float | timedelta | None
) -> float | None:
    """The lifetime of a chord's counter, part marks and saved header.

    The longer of ``result_chord_expires`` (``result_expires`` when it is None) and
    ``result_expires``: the last header task joins every header result, so the chord's own
    keys must not go before them. None (never expire) when either never expires.
    """
    results = lifetime(result_expires)
    chord = results if chord_expires is None else lifetime(chord_expires)
    if results is None or chord is None:
        return None
    return max(results, chord)


def status_of(meta: Any) -> str | None:
    """The state name a stored meta holds, or None when it is not a meta with a status."""
    if isinstance(meta, Mapping):
        status = meta.get("status")
        if isinstance(status, str) and status:
            return status
    return None


def may_replace(stored: Any, incoming_status: str) -> bool:
    """Whether a meta in ``incoming_status`` may replace the ``stored`` one (None: nothing).

    ``states.may_overwrite`` applied to stored metas; a value without a status (not a meta)
    never blocks.
    """
    return states.may_overwrite(status_of(stored), incoming_status)


#: The first line of a value stored as serialized text (then its content type, its content
#: encoding and the payload, one line each but the payload). Never a Celery key or id prefix.
TEXT_MARK: Final = "django-celery-results:text:1"

#: The content type of pickle: reading a stored Python object trusts the cache's pickle.
PICKLE_CONTENT_TYPE: Final = "application/x-python-serialize"


@attrs.frozen(kw_only=True)
class StoredValues:
    """How metas and saved groups are kept in the store: as Python objects or as text.

    As objects (the default, and what the old package did), the store pickles them itself, so
    whoever can write to it can make every reader unpickle, whatever the serializer settings.
    As text, values are serialized by ``serializer`` (Celery's ``result_serializer``) and read
    back only if their content type is accepted (``accept_content``), with the text policy of
    ``codec`` (binary payloads as base64). Counters and part marks are plain integers either way.

    Attributes:
        serializer: serializes text entries and reads them back by their own content type,
            refusing what it does not accept. None: text entries cannot be read.
        write_text: store new values as serialized text rather than as Python objects.
        read_objects: read values stored as Python objects (by the object mode: before the
            switch to text, or by the old package). When False such a value is refused with
            an InvalidRecordError naming its key.
    """

    serializer: Serializer | None = None
    write_text: bool = False
    read_objects: bool = True

    def __attrs_post_init__(self) -> None:
        if self.write_text and self.serializer is None:
            raise InvalidRecordError("serializer", "storing values as text needs a serializer")

    def dump(self, value: Any) -> Any:
        """``value`` in its stored form."""
        if not self.write_text or self.serializer is None:
            return value
        encoded = codec.encode(self.serializer, value)
        return f"{TEXT_MARK}\n{encoded.content_type}\n{encoded.content_encoding}\n{encoded.text}"

    def load(self, stored: Any, key: str) -> Any:
        """The value ``stored`` under ``key`` (None stays None).

        Raises:
            InvalidRecordError: for a value of a kind this policy does not read: a Python
                object when ``read_objects`` is False, malformed text, or text with no
                serializer. A serializer's own refusal (content not accepted) propagates.
        """
        if stored is None:
            return None
        if isinstance(stored, str) and stored.startswith(TEXT_MARK + "\n"):
            return self._load_text(stored, key)
        if not self.read_objects:
            raise InvalidRecordError(
                "value",
                f"the value under {key!r} is a {type(stored).__name__} stored as a Python object "
                "(pickled by the cache: written before results were stored as serialized text, "
                "or by the old package), and pickle is not an accepted content type: refused",
            )
        return stored

    def _load_text(self, stored: str, key: str) -> Any:
        parts = stored.split("\n", 3)
        if len(parts) != 4:
            raise InvalidRecordError("value", f"the text under {key!r} is truncated")
        _, content_type, content_encoding, text = parts
        if self.serializer is None:
            raise InvalidRecordError(
                "value", f"the value under {key!r} is serialized text and no serializer is set"
            )
        return codec.decode(self.serializer, content_type, content_encoding, text, field=key)


def _as_meta(value: Any, key: str) -> Meta | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRecordError(
            "meta", f"the value under {key!r} is a {type(value).__name__}, not a task meta"
        )
    return value


@attrs.frozen
class KeyValueResults:
    """The result-keeping use cases over a ``KeyValueStore``.

    Attributes:
        store: where the values live.
        naming: how their keys are named.
        values: how metas and groups are stored (Python objects by default).
    """

    store: KeyValueStore
    naming: KeyNaming = attrs.field(factory=KeyNaming)
    values: StoredValues = attrs.field(factory=StoredValues)

    # -- tasks ---------------------------------------------------------------------------

    def store_meta(self, task_id: Ident, meta: Meta, timeout: float | None) -> bool:
        """Store a task's new meta under the transition policy; return whether it was written.

        A SUCCESS is *added* under the final key (only the first SUCCESS gets there, atomically
        where the store declares ``atomic_add``) and then written under the task key for
        readers of that key alone. Any other state reads both keys (one round trip) and is
        written unless ``states.may_overwrite`` forbids it.

        The race that remains: a non-SUCCESS state read before a SUCCESS was added is still
        written after it. It lands only under the task key; readers of this module see the
        final key first, so the SUCCESS is never lost. The same race can let a STARTED replace
        a FAILURE or REVOKED (no final key guards those).
        """
        status = status_of(meta)
        if status is None:
            raise InvalidRecordError("status", f"a meta needs a state name, got {meta!r}")
        task_key = self.naming.task_key(task_id)
        stored = self.values.dump(meta)
        if status == states.SUCCESS:
            if not self.store.add(self.naming.final_key(task_id), stored, timeout):
                return False
            self.store.set(task_key, stored, timeout)
            return True
        try:
            previous = self.get_meta(task_id)
        except InvalidRecordError:
            # A value this policy refuses to read (an object from before the switch to text)
            # guards nothing: the new state replaces it.
            previous = None
        if not may_replace(previous, status):
            return False
        self.store.set(task_key, stored, timeout)
        return True

    def get_meta(self, task_id: Ident) -> Meta | None:
        """A task's meta (its first SUCCESS if it has one), or None; one round trip."""
        return self.get_metas([task_id]).get(id_text("task_id", task_id))

    def get_metas(self, task_ids: Iterable[Ident]) -> dict[str, Meta]:
        """The metas stored for ``task_ids``, keyed by id (as text), read in one round trip."""
        keys: dict[str, tuple[str, bool]] = {}
        for ident in task_ids:
            task_id = id_text("task_id", ident)
            keys[self.naming.final_key(task_id)] = (task_id, True)
            keys[self.naming.task_key(task_id)] = (task_id, False)
        if not keys:
            return {}
        found = self.store.get_many(keys)
        metas: dict[str, Meta] = {}
        for key, value in found.items():
            task_id, final = keys[key]
            meta = _as_meta(self.values.load(value, key), key)
            if meta is not None and (final or task_id not in metas):
                metas[task_id] = meta
        return metas

    def forget(self, task_id: Ident) -> None:
        """Remove a task's meta (both keys); an unknown id is not an error."""
        self.store.delete_many([self.naming.task_key(task_id), self.naming.final_key(task_id)])

    # -- groups --------------------------------------------------------------------------

    def save_group(self, group_id: Ident, value: Any, timeout: float | None) -> None:
        """Save a group result (replacing one with the same id)."""
        self.store.set(self.naming.group_key(group_id), self.values.dump(value), timeout)

    def get_group(self, group_id: Ident) -> Any:
        """The saved group result, or None."""
        key = self.naming.group_key(group_id)
        return self.values.load(self.store.get(key), key)

    def delete_group(self, group_id: Ident) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.store.delete(self.naming.group_key(group_id))

    # -- chords --------------------------------------------------------------------------

    def start_chord(self, group_id: Ident, size: int, timeout: float | None) -> None:
        """Start the counter of a chord whose ``size`` header tasks are about to run."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidRecordError("size", f"must be a whole number >= 0, got {size!r}")
        self.store.set(self.naming.chord_key(group_id), CHORD_COUNT_FLOOR + size, timeout)

    def remaining(self, group_id: Ident) -> int | None:
        """Header tasks of the chord yet to be counted, or None when it has no counter."""
        count = self.store.get(self.naming.chord_key(group_id))
        return None if count is None else max(int(count) - CHORD_COUNT_FLOOR, 0)

    def count_part(
        self,
        group_id: Ident,
        task_id: Ident,
        timeout: float | None,
        *,
        retry: Retry | None = None,
        on_uncertain: Callable[[StorageError], None] | None = None,
    ) -> PartCount:
        """Count header task ``task_id`` of chord ``group_id`` as done, at most once.

        Marks the task (``add``: of concurrent reports of one task only one marks it), then
        decrements the counter (atomic where the store declares ``atomic_increment``), so the
        one call that brings the count to its end sees ``is_last``. A task already marked
        changes nothing (``counted=False``); so does one reported after the chord finished
        (the count is past its end). ``remaining`` is None when the chord has no counter.

        Without ``retry`` a failure propagates: if the decrement fails, the mark is removed
        again (best effort) so that a redelivered task counts. With ``retry`` (the caller's
        policy for transient failures) a transient failure does not lose the part:

        - The mark holds a token of this call, so a retried ``add`` that finds the key set
          reads it: our token means an earlier attempt set it (its reply was lost).
        - The decrement is never sent twice: a reply lost after the server applied it would
          count the part twice and fire the chord early. The chord is flagged uncertain
          instead (``uncertain_key``, which ``chords_to_recover`` reads) and the marks decide:
          when every header task is marked this call is the last (the callback's claim makes
          sure only one sender wins), else it is not. A later part that leaves the counter a
          few short of its end reads the flag and the marks too: lost decrements leave it there.
          ``on_uncertain`` is told the failure first (the caller logs it).

        A process killed between marking and counting loses that part (the callback then
        never runs, and the counter expires).
        """
        run: Retry = retry or _run_once
        mark = self.naming.part_key(group_id, task_id)
        token = uuid.uuid4().hex
        if not self._add_mark(mark, token, timeout, run):
            remaining = run(lambda: self.remaining(group_id))
            # A marked task proves the chord was counted here: a missing counter has expired.
            return PartCount(0 if remaining is None else remaining, counted=False)
        chord_key = self.naming.chord_key(group_id)
        try:
            count = self.store.incr(chord_key, -1)
        except TransientStorageError as exc:
            if retry is None:
                with contextlib.suppress(StorageError):
                    self.store.delete(mark)
                raise
            if on_uncertain is not None:
                on_uncertain(exc)
            return self._count_uncertain(group_id, timeout, run)
        except StorageError:
            with contextlib.suppress(StorageError):
                self.store.delete(mark)
            raise
        if count is None:
            run(lambda: self.store.delete(mark))
            return PartCount(None, counted=False)
        remaining = count - CHORD_COUNT_FLOOR
        if remaining < 0:
            # Counted after the chord finished and its marks were cleared: not a part of it.
            return PartCount(0, counted=False)
        near_the_end = 0 < remaining <= SHORT_COUNTS_CHECKED
        if retry is not None and near_the_end and self._last_by_marks(group_id, run):
            return PartCount(0, counted=True)
        return PartCount(remaining, counted=True)

    def _last_by_marks(self, group_id: Ident, run: Retry) -> bool:
        """Whether a chord short of its end is flagged uncertain and fully marked.

        A decrement lost before it reached the store leaves the counter short for good; the
        parts that leave at most ``SHORT_COUNTS_CHECKED`` to count read the flag, so that
        chord fires now rather than at the next recovery.
        """
        if run(lambda: self.store.get(self.naming.uncertain_key(group_id))) is None:
            return False
        return run(lambda: self._unmarked_members(group_id)) == 0

    def _add_mark(self, mark: str, token: str, timeout: float | None, run: Retry) -> bool:
        """Set the part's mark to ``token`` if absent; True when this call set it."""
        failed = False

        def attempt() -> bool:
            nonlocal failed
            try:
                if self.store.add(mark, token, timeout):
                    return True
            except StorageError:
                failed = True
                raise
            # Found set: by another report of the task, or by our own attempt whose reply
            # was lost (only then is it worth a read).
            return failed and self.store.get(mark) == token

        return run(attempt)

    def _count_uncertain(self, group_id: Ident, timeout: float | None, run: Retry) -> PartCount:
        """The count after a decrement that failed: applied or not, the marks decide."""
        run(lambda: self.store.set(self.naming.uncertain_key(group_id), UNCERTAIN, timeout))
        missing = run(lambda: self._unmarked_members(group_id))
        # A header that is gone (None) cannot be joined: the last part's claim then stores
        # the ChordError, as a counted last part would.
        return PartCount(0 if missing is None else missing, counted=True)

    def _unmarked_members(self, group_id: Ident) -> int | None:
        """How many header tasks of the chord have no part mark; None when its header is gone."""
        group_key = self.naming.group_key(group_id)
        members = header_members(self.values.load(self.store.get(group_key), group_key))
        if members is None:
            return None
        marks = [self.naming.part_key(group_id, member) for member in members]
        found = self.store.get_many(marks) if marks else {}
        return sum(1 for key in marks if key not in found)

    def finish_chord(self, group_id: Ident, task_ids: Iterable[Ident]) -> None:
        """Remove the part markers of a chord whose callback was dealt with (one round trip).

        The counter stays (at its end) until it expires, so a late duplicate report is seen as
        counted past the end, not as a chord that never started.
        """
        marks = [self.naming.part_key(group_id, task_id) for task_id in task_ids]
        if marks:
            self.store.delete_many(marks)

    # -- chord recovery ------------------------------------------------------------------

    def remember_chord(
        self, group_id: Ident, callback: Any, started: float, timeout: float | None
    ) -> None:
        """Keep a chord's callback and list the chord under the minute it started.

        Recovery finds finished chords whose callback was never sent through this index: a
        cache cannot list its keys, so each minute's chords are counted (an atomic increment
        hands out the slots) and each slot names one chord.
        """
        self.store.set(self.naming.callback_key(group_id), self.values.dump(callback), timeout)
        bucket = int(started // RECOVERY_BUCKET_SECONDS)
        count_key = self.naming.index_count_key(bucket)
        slot = self.store.incr(count_key, 1)
        if slot is None:
            slot = 1 if self.store.add(count_key, 1, timeout) else self.store.incr(count_key, 1)
        if slot is None:  # pragma: no cover - the count expired between add and incr
            return
        self.store.set(
            self.naming.index_slot_key(bucket, slot), id_text("group_id", group_id), timeout
        )

    def claim_callback(self, group_id: Ident, grace: float, token: str | None = None) -> bool:
        """Take on sending a chord's callback; False when someone holds it or it was sent.

        The claim is an ``add`` (of concurrent claimants exactly one wins where the store
        declares ``atomic_add``) that expires after ``grace`` seconds, so a claimer that died
        is taken over; ``callback_done`` makes it permanent. A claimer that may run this again
        after a failure passes the same ``token`` each time: a claim found holding it is its
        own earlier attempt (whose reply was lost), not someone else's.
        """
        key = self.naming.claim_key(group_id)
        if self.store.add(key, token or CLAIMED, max(float(grace), 1.0)):
            return True
        return token is not None and self.store.get(key) == token

    def callback_done(self, group_id: Ident, timeout: float | None) -> None:
        """Record that a chord's callback was sent (or failed): it is never claimed again."""
        self.store.set(self.naming.claim_key(group_id), CALLBACK_DONE, timeout)

    def chords_to_recover(
        self, now: float, grace: float, horizon: float | None, limit: int
    ) -> list[tuple[str, Any]]:
        """Finished chords started ``grace`` to ``horizon`` seconds ago that nobody claimed.

        Returns up to ``limit`` pairs of group id and stored callback (read by ``values``;
        an unreadable one is returned as the InvalidRecordError it raised), oldest first.
        Reads the index and the chords in three ``get_many`` round trips, and two more when a
        chord flagged uncertain (``count_part``) has a counter short of its end: its saved
        header and its part marks, and it is due when every header task is marked.
        """
        back = RECOVERY_HORIZON_SECONDS if horizon is None else horizon
        first = int((now - back) // RECOVERY_BUCKET_SECONDS)
        last = int((now - grace) // RECOVERY_BUCKET_SECONDS)
        buckets = range(first, last + 1)
        counts = self.store.get_many([self.naming.index_count_key(b) for b in buckets])
        slots = [
            self.naming.index_slot_key(bucket, slot)
            for bucket in buckets
            for slot in range(1, int(counts.get(self.naming.index_count_key(bucket)) or 0) + 1)
        ]
        listed = self.store.get_many(slots) if slots else {}
        group_ids = list(dict.fromkeys(str(listed[key]) for key in slots if key in listed))
        keys = {
            group_id: (
                self.naming.chord_key(group_id),
                self.naming.claim_key(group_id),
                self.naming.callback_key(group_id),
                self.naming.uncertain_key(group_id),
            )
            for group_id in group_ids
        }
        found = self.store.get_many([key for keys_of in keys.values() for key in keys_of])
        listed_due: list[str] = []
        uncertain: list[str] = []
        for group_id, (chord_key, claim_key, callback_key, uncertain_key) in keys.items():
            count = found.get(chord_key)
            if count is None or claim_key in found or callback_key not in found:
                continue
            if int(count) <= CHORD_COUNT_FLOOR:
                listed_due.append(group_id)
            elif uncertain_key in found:
                # A decrement of this chord may have been lost: its marks tell if it is done.
                listed_due.append(group_id)
                uncertain.append(group_id)
        complete = self._fully_marked(uncertain)
        due: list[tuple[str, Any]] = []
        for group_id in listed_due:
            if group_id in uncertain and group_id not in complete:
                continue
            callback_key = keys[group_id][2]
            try:
                callback = self.values.load(found[callback_key], callback_key)
            except InvalidRecordError as exc:
                callback = exc
            due.append((group_id, callback))
            if len(due) >= limit:
                break
        return due

    def _fully_marked(self, group_ids: list[str]) -> set[str]:
        """The chords among ``group_ids`` whose every header task is marked (two round trips)."""
        if not group_ids:
            return set()
        group_keys = {group_id: self.naming.group_key(group_id) for group_id in group_ids}
        saved = self.store.get_many(list(group_keys.values()))
        members: dict[str, list[str]] = {}
        for group_id, group_key in group_keys.items():
            try:
                header = header_members(self.values.load(saved.get(group_key), group_key))
            except InvalidRecordError:
                header = None  # unreadable: its worker's claim stores the ChordError
            if header:
                members[group_id] = [self.naming.part_key(group_id, m) for m in header]
        marks = [mark for keys_of in members.values() for mark in keys_of]
        found = self.store.get_many(marks) if marks else {}
        return {
            group_id
            for group_id, keys_of in members.items()
            if all(mark in found for mark in keys_of)
        }


def _run_once(step: Callable[[], _T]) -> _T:
    """Run ``step`` once: no retries."""
    return step()


def header_members(saved: Any) -> list[str] | None:
    """The ids of the header tasks that report to a chord, from its saved group.

    ``saved`` is the group as the backend saves it (``{"result": as_tuple}`` in Celery's
    ``GroupResult.as_tuple`` form); the reporting tasks are its leaves: a nested group's
    tasks report to the outer chord, a chain reports by its last task (the leaf saved).
    None when nothing is saved or the value is not of that form.
    """
    if not isinstance(saved, Mapping):
        return None
    try:
        _, children = saved["result"]
        return list(_leaves(children or ()))
    except (KeyError, TypeError, ValueError):
        return None


def _leaves(children: Iterable[Any]) -> Iterable[str]:
    for (ident, _parent), inner in children:
        if inner is None:
            yield id_text("task_id", ident)
        else:
            yield from _leaves(inner)
