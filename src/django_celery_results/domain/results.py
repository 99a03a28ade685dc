"""``ResultStore``: the ``django-db`` backend's use cases, over repositories of records.

One of the two use-case families, one per backend: this one serves ``django-db`` with records
(``TaskRecord``, ``GroupRecord``, ``ChordCounter``) over the repository ports;
``domain.keyvalue.results.KeyValueResultStore`` serves ``django-cache`` with Celery's meta dicts
over a key-value store. Both offer the same steps (store a state under the transition policy,
read, forget, save a group, count a chord's part, recover a chord), and this one expiry too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from . import states
from .ports import (
    ChordCounterRepository,
    ChordPartStore,
    Clock,
    GroupRepository,
    TaskRepository,
)
from .records import ChordCounter, GroupRecord, PartCount, TaskRecord, stored_id
from .retention import ProgressCallback, RetentionRule, RetentionTarget

__all__ = [
    "DEFAULT_EXPIRY_BATCH",
    "ExpiryReport",
    "ResultStore",
    "RetentionReport",
    "RuleOutcome",
]

#: Rows per statement of ``delete_expired``: None lets each repository choose for its storage
#: (the ORM: one ``DELETE`` on PostgreSQL and MySQL/MariaDB, where other writers go on
#: meanwhile, and batches on SQLite, whose single write lock would stall every worker).
DEFAULT_EXPIRY_BATCH: int | None = None


@attrs.frozen
class ExpiryReport:
    """How many rows one ``delete_expired`` call removed.

    Attributes:
        tasks: task results removed.
        groups: group results removed.
        chords: chord counters removed (with the parts they counted).
    """

    tasks: int
    groups: int
    chords: int = 0


@attrs.frozen
class RuleOutcome:
    """The task rows one retention rule deleted (or, in a dry run, would delete)."""

    rule: RetentionRule
    rows: int


@attrs.frozen
class RetentionReport:
    """What one ``apply_retention`` call deleted, or would delete in a dry run.

    Attributes:
        rules: each rule applied, with its rows.
        groups: group results deleted (None: groups were not touched).
        chords: chord counters deleted (None: not touched).
        dry_run: whether rows were only counted.
        untargeted: task rows deleted by one age for all (storage without per-rule deletes).
    """

    rules: tuple[RuleOutcome, ...]
    groups: int | None
    chords: int | None
    dry_run: bool = False
    untargeted: int = 0

    @property
    def tasks(self) -> int:
        """Task rows over every rule (and those deleted by one age for all)."""
        return sum(outcome.rows for outcome in self.rules) + self.untargeted


@attrs.frozen
class ResultStore:
    """The result-keeping use cases over one set of repositories (the ``django-db`` backend's).

    Every id that enters here may be ``str``, ``bytes``, ``int`` or ``uuid.UUID``; it reaches
    the repositories as its text (``records.stored_id``), as the old package stored ``str(id)``.

    Attributes:
        tasks: where task records live.
        groups: where group records live.
        chords: where chord counters live.
        clock: the source of every stored date.
        parts: stores a chord header task's result and counts it in one step, where the
            storage can (None: ``tasks.store`` then ``chords.count_part``).
    """

    tasks: TaskRepository
    groups: GroupRepository
    chords: ChordCounterRepository
    clock: Clock
    parts: ChordPartStore | None = None

    def store_task(self, record: TaskRecord) -> bool:
        """Store a task's new state under the transition policy; return whether it was written.

        Dates come from the clock: ``date_done`` on every write (the moment this state was
        stored), ``date_started`` when the state is STARTED, ``date_created`` on the first write
        (the repository keeps the stored one on later writes). Raises ``InvalidRecordError``
        before touching storage when a field is longer than the storage holds.
        """
        return self.tasks.store(self._checked_and_dated(record))

    def _checked_and_dated(self, record: TaskRecord) -> TaskRecord:
        self.tasks.limits.check_task(record)
        now = self.clock.now()
        return attrs.evolve(
            record,
            date_created=record.date_created or now,
            date_started=now if record.status == states.STARTED else record.date_started,
            date_done=now,
        )

    def store_chord_part(self, record: TaskRecord, group_id: str) -> tuple[bool, PartCount]:
        """Store a chord header task's state and count it as returned: ``(written, count)``.

        ``store_task`` then ``chord_part_returned``, in one atomic step where the storage
        offers one (``parts``): a single commit per header task instead of two.
        """
        record = self._checked_and_dated(record)
        if self.parts is not None:
            return self.parts.store_part(record, stored_id(group_id))
        written = self.tasks.store(record)
        return written, self.chords.count_part(stored_id(group_id), record.task_id)

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The stored record of ``task_id``, or None (Celery reads that as PENDING)."""
        return self.tasks.get(stored_id(task_id))

    def get_tasks(self, task_ids: Iterable[str]) -> Mapping[str, TaskRecord]:
        """The stored records among ``task_ids``, keyed by id, read together."""
        return self.tasks.get_many([stored_id(task_id) for task_id in task_ids])

    def forget_task(self, task_id: str) -> None:
        """Remove ``task_id``'s record; an unknown id is not an error."""
        self.tasks.delete(stored_id(task_id))

    def save_group(self, record: GroupRecord) -> None:
        """Save a group result (insert or replace), dated by the clock."""
        self.tasks.limits.check_group(record)
        now = self.clock.now()
        self.groups.save(
            attrs.evolve(record, date_created=record.date_created or now, date_done=now)
        )

    def get_group(self, group_id: str) -> GroupRecord | None:
        """The stored group, or None."""
        return self.groups.get(stored_id(group_id))

    def delete_group(self, group_id: str) -> None:
        """Remove a group; an unknown id is not an error."""
        self.groups.delete(stored_id(group_id))

    def start_chord(self, counter: ChordCounter) -> None:
        """Store the counter of a chord whose header is about to run, dated by the clock."""
        self.tasks.limits.check_id("group_id", counter.group_id)
        self.chords.create(
            attrs.evolve(counter, date_created=counter.date_created or self.clock.now())
        )

    def chord_part_returned(self, group_id: str, task_id: str) -> PartCount:
        """Count header task ``task_id`` of chord ``group_id`` as done, at most once.

        ``is_last`` on the answer means this call counted the last header task: the caller
        (and only it) sends the callback.
        """
        return self.chords.count_part(stored_id(group_id), stored_id(task_id))

    def get_chord(self, group_id: str) -> ChordCounter | None:
        """The chord's counter (with its serialized header), or None."""
        return self.chords.get(stored_id(group_id))

    def finish_chord(self, group_id: str) -> None:
        """Forget the counted parts of a chord whose callback has been dealt with.

        The counter itself stays at zero until it expires, so a duplicate report of a header
        task that arrives later is recognised as a duplicate, not as an unknown chord.
        """
        self.chords.clear_parts(stored_id(group_id))

    def claim_chord_callback(
        self, group_id: str, grace: timedelta, claimed_at: datetime | None = None
    ) -> bool:
        """Take on sending the callback of a chord whose header has finished; False if taken.

        Exactly one of the processes that claim at once wins: the worker that counted the last
        header task, or recovery. A claim older than ``grace`` is taken over (its holder died).
        ``claimed_at`` (default: the clock's now) identifies the claim: a retry with the same
        value, after a reply was lost, finds its own claim and wins again.
        """
        now = self.clock.now() if claimed_at is None else claimed_at
        return self.chords.claim_callback(stored_id(group_id), now, now - grace)

    def now(self) -> datetime:
        """The clock's time (a claim's identity, fixed before its first attempt)."""
        return self.clock.now()

    def chord_callback_done(self, group_id: str) -> None:
        """Record that the chord's callback was sent (or its ChordError stored)."""
        self.chords.callback_done(stored_id(group_id), self.clock.now())

    def chords_to_recover(self, grace: timedelta, limit: int = 100) -> list[ChordCounter]:
        """Finished chords whose callback nobody has sent within ``grace``, oldest first.

        A worker killed (SIGKILL, the OOM killer, a lost node) after counting the last header
        task and before sending the callback leaves such a chord; so does a COMMIT whose
        reply was lost under ``result_backend_always_retry`` (the retried part is found
        already counted). Recovery claims each one and sends its callback.
        """
        if grace < timedelta(0):
            raise ValueError(f"grace must not be negative, got {grace}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return self.chords.awaiting_callback(self.clock.now() - grace, limit)

    def delete_expired(
        self, expires: timedelta, batch_size: int | None = DEFAULT_EXPIRY_BATCH
    ) -> ExpiryReport:
        """Remove task and group results whose ``date_done`` is older than ``expires`` ago.

        ``batch_size`` caps the rows per statement; None leaves the steps to the repositories.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        cutoff = self.clock.now() - expires
        return ExpiryReport(
            tasks=self.tasks.delete_done_before(cutoff, batch_size),
            groups=self.groups.delete_done_before(cutoff, batch_size),
            chords=self.chords.delete_created_before(cutoff, batch_size),
        )

    def apply_retention(
        self,
        target: RetentionTarget,
        rules: Sequence[RetentionRule],
        groups_age: timedelta | None,
        *,
        batch_size: int | None = DEFAULT_EXPIRY_BATCH,
        dry_run: bool = False,
        progress_for: Callable[[RetentionRule, datetime], ProgressCallback | None] | None = None,
    ) -> RetentionReport:
        """Delete (or count, ``dry_run``) each rule's task rows, then old groups and chords.

        ``rules`` come from ``RetentionPolicy.rules`` (disjoint, so no row is counted twice);
        every cutoff is taken from one reading of the clock. Groups and chord counters go
        after ``groups_age`` as ``delete_expired`` deletes them (None: they are kept).
        ``progress_for(rule, cutoff)`` may return a callback told each rule's running total.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        now = self.clock.now()
        outcomes = []
        for rule in rules:
            cutoff = rule.cutoff(now)
            if dry_run:
                rows = target.count_done_before(rule.selection, cutoff)
            else:
                progress = progress_for(rule, cutoff) if progress_for is not None else None
                rows = target.delete_done_before(rule.selection, cutoff, batch_size, progress)
            outcomes.append(RuleOutcome(rule, rows))
        groups = chords = None
        if groups_age is not None:
            cutoff = now - groups_age
            if dry_run:
                groups = target.count_groups_before(cutoff)
                chords = target.count_chords_before(cutoff)
            else:
                groups = self.groups.delete_done_before(cutoff, batch_size)
                chords = self.chords.delete_created_before(cutoff, batch_size)
        return RetentionReport(tuple(outcomes), groups, chords, dry_run)
