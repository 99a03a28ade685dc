"""Chord counting over a key-value store: each header task counted once, with an atomic decrement.

No polling unlock task is needed where the store declares ``atomic_increment``. Through
transient failures too: a retried mark knows its own token, and a decrement whose reply was lost
is never repeated (the chord is flagged uncertain and its part marks decide; see
``ChordCounting.count_part``). ``KeyValueResultStore`` takes these steps in.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol, TypeVar

from ..errors import InvalidRecordError, StorageError, TransientStorageError
from ..ports import KeyValueStore
from ..records import Ident, PartCount, id_text
from .keys import KeyNaming
from .values import StoredValues

__all__ = [
    "CHORD_COUNT_FLOOR",
    "SHORT_COUNTS_CHECKED",
    "UNCERTAIN",
    "ChordCounting",
    "KeyValueParts",
    "Retry",
    "header_members",
]

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

_T = TypeVar("_T")


class Retry(Protocol):
    """Runs one storage step, running it again after a transient failure, as a policy says.

    The caller owns the policy (how often, how long to wait); the use cases say which steps
    may be run again, and what a step that failed after the server applied it means.
    """

    def __call__(self, step: Callable[[], _T]) -> _T:
        """``step()``'s value; its last failure when the policy gives up."""
        ...


class KeyValueParts:
    """What the steps of the key-value results work with, declared once for their mixins.

    The result store that takes the mixins in (``KeyValueResultStore``) supplies them.

    Attributes:
        store: where the values live.
        naming: how their keys are named.
        values: how metas and groups are stored.
    """

    __slots__ = ()

    store: KeyValueStore
    naming: KeyNaming
    values: StoredValues


class ChordCounting(KeyValueParts):
    """The chord steps of ``KeyValueResultStore``: start, count a part, finish."""

    __slots__ = ()

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
