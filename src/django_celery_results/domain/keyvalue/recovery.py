"""Chord recovery over a key-value store: an index of chords by start time, and their claims.

A cache cannot list its keys, so ``ChordRecovery.remember_chord`` keeps each chord's callback and
lists the chord in an index by the minute it started (``<recovery prefix>index/<minute>``
counts the chords, ``.../<minute>/<n>`` names the n-th); ``chords_to_recover`` reads the index
from the chord lifetime back to the grace period in a few ``get_many`` round trips. The claim is
an ``add`` that expires after the grace period (a claimer that died is taken over) and is made
permanent once the callback is sent. ``KeyValueResultStore`` takes these steps in.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import InvalidRecordError
from ..records import Ident, id_text
from .chords import CHORD_COUNT_FLOOR, KeyValueParts, header_members

__all__ = [
    "CALLBACK_DONE",
    "CLAIMED",
    "RECOVERY_BUCKET_SECONDS",
    "RECOVERY_HORIZON_SECONDS",
    "ChordRecovery",
]

#: Chords are listed for recovery in buckets of this many seconds of their start time.
RECOVERY_BUCKET_SECONDS: Final = 60
#: How far back recovery looks when chords never expire (``result_expires`` unset).
RECOVERY_HORIZON_SECONDS: Final = 24 * 3600
#: The values of a chord's claim: being sent (expires after the grace period), and done.
CLAIMED: Final = "claimed"
CALLBACK_DONE: Final = "done"


class ChordRecovery(KeyValueParts):
    """The chord recovery steps of ``KeyValueResultStore``: remember, claim, find the due."""

    __slots__ = ()

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
