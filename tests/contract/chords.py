"""The ``ChordCounterRepository`` contract: counting parts once, the callback's claim, expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from django_celery_results.domain.ports import ChordCounterRepository
from django_celery_results.domain.records import PartCount
from tests.contract.support import COUNTER_CREATED, DAY, UNICODE, ThreadedContract, make_counter

__all__ = ["ChordCounterRepositoryContract"]


class ChordCounterRepositoryContract(ThreadedContract):
    """The ``ChordCounterRepository`` contract (domain/ports.py); needs a ``chord_repo`` fixture.

    The concurrency test runs only where the adapter declares ``atomic_decrement = True``.
    """

    def test_get_unknown_id_is_none(self, chord_repo: ChordCounterRepository) -> None:
        """get() of a chord never created returns None."""
        assert chord_repo.get("never-created") is None

    def test_decrement_unknown_id_is_none(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() of a chord with no counter returns None and creates nothing."""
        assert chord_repo.decrement("never-created") is None
        assert chord_repo.get("never-created") is None

    def test_create_round_trip(self, chord_repo: ChordCounterRepository) -> None:
        """A created counter reads back equal, with a long non-ASCII sub_tasks text."""
        counter = make_counter(
            group_id=f"chord-{UNICODE}",
            sub_tasks=f'[["{UNICODE}", null]]' + " " * 100_000,
            count=3,
        )
        chord_repo.create(counter)
        assert chord_repo.get(counter.group_id) == counter

    def test_create_replaces_existing(self, chord_repo: ChordCounterRepository) -> None:
        """create() with a known group id replaces its counter (count and sub_tasks)."""
        chord_repo.create(make_counter(group_id="chord", sub_tasks="old", count=2))
        chord_repo.decrement("chord")
        replacement = make_counter(group_id="chord", sub_tasks="new", count=5)
        chord_repo.create(replacement)
        assert chord_repo.get("chord") == replacement

    def test_decrement_counts_down_to_zero(self, chord_repo: ChordCounterRepository) -> None:
        """Each decrement() lowers the count by one and returns the count after it."""
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=3))
        assert [chord_repo.decrement("chord") for _ in range(3)] == [2, 1, 0]
        counter = chord_repo.get("chord")
        assert counter is not None
        assert (counter.count, counter.sub_tasks) == (0, "[]")

    def test_decrement_never_below_zero(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() at zero returns 0 and leaves the count at 0."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.decrement("chord") == 0
        assert chord_repo.decrement("chord") == 0
        assert chord_repo.decrement("chord") == 0
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0

    def test_decrement_from_zero(self, chord_repo: ChordCounterRepository) -> None:
        """A counter created at 0 stays at 0."""
        chord_repo.create(make_counter(group_id="chord", count=0))
        assert chord_repo.decrement("chord") == 0

    def test_counters_are_independent(self, chord_repo: ChordCounterRepository) -> None:
        """decrement() of one chord leaves the others untouched."""
        chord_repo.create(make_counter(group_id="a", count=2))
        chord_repo.create(make_counter(group_id="b", count=2))
        assert chord_repo.decrement("a") == 1
        assert chord_repo.get("b") == make_counter(group_id="b", count=2)

    def test_delete(self, chord_repo: ChordCounterRepository) -> None:
        """delete() removes the counter; decrement() afterwards returns None."""
        chord_repo.create(make_counter(group_id="chord", count=2))
        chord_repo.delete("chord")
        assert chord_repo.get("chord") is None
        assert chord_repo.decrement("chord") is None

    def test_delete_unknown_id_is_fine(self, chord_repo: ChordCounterRepository) -> None:
        """delete() of a chord never created (or already deleted) raises nothing."""
        chord_repo.delete("never-created")
        chord_repo.create(make_counter(group_id="chord", count=1))
        chord_repo.delete("chord")
        chord_repo.delete("chord")

    def test_adapter_declares_atomic_decrement(self, chord_repo: ChordCounterRepository) -> None:
        """Every adapter declares the atomic_decrement capability as a bool."""
        assert isinstance(getattr(chord_repo, "atomic_decrement", None), bool)

    def test_concurrent_decrements_are_atomic(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads x 50 decrements end at 0, each of 0..n-1 returned exactly once."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        threads, per_thread = 8, 50
        total = threads * per_thread
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=total))

        def decrement_many() -> list[int | None]:
            return [chord_repo.decrement("chord") for _ in range(per_thread)]

        batches = self.run_concurrently(threads, decrement_many)
        returned = [-1 if value is None else value for batch in batches for value in batch]
        assert sorted(returned) == list(range(total))
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0
        assert chord_repo.decrement("chord") == 0

    # -- counting parts once -----------------------------------------------------------------

    def test_count_part_counts_each_task_once(self, chord_repo: ChordCounterRepository) -> None:
        """A task reported twice counts once; the chord waits for its real last task."""
        chord_repo.create(make_counter(group_id="chord", count=3))
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=2, counted=True)
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=2, counted=False)
        assert chord_repo.count_part("chord", "t2") == PartCount(remaining=1, counted=True)
        assert chord_repo.count_part("chord", "t2") == PartCount(remaining=1, counted=False)
        last = chord_repo.count_part("chord", "t3")
        assert last == PartCount(remaining=0, counted=True)
        assert last.is_last

    def test_count_part_of_unknown_chord(self, chord_repo: ChordCounterRepository) -> None:
        """A part of a chord with no counter is reported as unknown and counts nothing."""
        assert chord_repo.count_part("never-created", "t") == PartCount(None, counted=False)
        assert chord_repo.get("never-created") is None

    def test_count_part_after_zero(self, chord_repo: ChordCounterRepository) -> None:
        """Once the count is at zero, a new task id counts nothing and is never ``is_last``."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.count_part("chord", "t1").is_last
        late = chord_repo.count_part("chord", "t9")
        assert late == PartCount(remaining=0, counted=False)
        assert not late.is_last

    def test_clear_parts_keeps_the_counter(self, chord_repo: ChordCounterRepository) -> None:
        """clear_parts() keeps the counter at zero, so a late duplicate is still no last part."""
        chord_repo.create(make_counter(group_id="chord", count=1))
        assert chord_repo.count_part("chord", "t1").is_last
        chord_repo.clear_parts("chord")
        chord_repo.clear_parts("never-created")
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=0, counted=False)

    def test_parts_are_per_chord(self, chord_repo: ChordCounterRepository) -> None:
        """The same task id counts separately in two chords."""
        chord_repo.create(make_counter(group_id="a", count=2))
        chord_repo.create(make_counter(group_id="b", count=2))
        assert chord_repo.count_part("a", "t").counted
        assert chord_repo.count_part("b", "t").counted

    def test_delete_forgets_parts(self, chord_repo: ChordCounterRepository) -> None:
        """After delete() and a new create(), a task counted before counts again."""
        chord_repo.create(make_counter(group_id="chord", count=2))
        assert chord_repo.count_part("chord", "t1").counted
        chord_repo.delete("chord")
        chord_repo.create(make_counter(group_id="chord", count=2))
        assert chord_repo.count_part("chord", "t1") == PartCount(remaining=1, counted=True)

    def test_delete_created_before(self, chord_repo: ChordCounterRepository) -> None:
        """Counters created before the cutoff go, in batches; one created at it stays."""
        for n in range(5):
            chord_repo.create(make_counter(group_id=f"old-{n}", count=1))
        chord_repo.create(
            make_counter(group_id="boundary", count=1, date_created=COUNTER_CREATED + DAY)
        )
        assert chord_repo.count_part("old-0", "t").counted
        assert chord_repo.delete_created_before(COUNTER_CREATED + DAY, batch_size=2) == 5
        assert chord_repo.get("old-0") is None
        assert chord_repo.get("boundary") is not None
        assert chord_repo.delete_created_before(COUNTER_CREATED + DAY, batch_size=2) == 0

    def test_concurrent_duplicate_reports_count_once(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """8 threads each report all 40 header tasks: 40 counted, exactly one last part."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        threads, tasks = 8, 40
        chord_repo.create(make_counter(group_id="chord", sub_tasks="[]", count=tasks))

        def report_all() -> list[PartCount]:
            return [chord_repo.count_part("chord", f"t{n}") for n in range(tasks)]

        outcomes = [p for batch in self.run_concurrently(threads, report_all) for p in batch]
        counted = sorted(p.remaining for p in outcomes if p.counted and p.remaining is not None)
        assert counted == list(range(tasks))
        assert sum(p.is_last for p in outcomes) == 1
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.count == 0

    # -- the callback's claim, for recovery after a crash (issue 9) --------------------------

    def test_create_round_trips_the_callback(self, chord_repo: ChordCounterRepository) -> None:
        """The serialized callback, claim and done dates read back as created."""
        counter = make_counter(
            group_id="chord",
            count=2,
            callback='{"task": "tests.tsum", "options": {"task_id": "cb"}}',
        )
        chord_repo.create(counter)
        assert chord_repo.get("chord") == counter

    def test_claim_needs_a_finished_header(self, chord_repo: ChordCounterRepository) -> None:
        """No claim while header tasks are outstanding, nor for an unknown chord."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        later = COUNTER_CREATED + DAY
        assert not chord_repo.claim_callback("chord", later, later)
        assert not chord_repo.claim_callback("never-created", later, later)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed is None

    def test_claim_is_taken_once_until_stale(self, chord_repo: ChordCounterRepository) -> None:
        """The first claim wins; a second waits until the first is older than stale_before."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        first = COUNTER_CREATED + timedelta(minutes=1)
        assert chord_repo.claim_callback("chord", first, first)
        second = first + timedelta(seconds=30)
        assert not chord_repo.claim_callback("chord", second, first)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed == first
        # The claimer died: once its claim is older than stale_before, it is taken over.
        much_later = first + DAY
        assert chord_repo.claim_callback("chord", much_later, first + timedelta(seconds=1))
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_claimed == much_later

    def test_a_repeated_claim_recognises_itself(self, chord_repo: ChordCounterRepository) -> None:
        """A claim retried with the same time (its reply was lost) wins again; others do not."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        first = COUNTER_CREATED + timedelta(minutes=1)
        assert chord_repo.claim_callback("chord", first, first - timedelta(minutes=5))
        assert chord_repo.claim_callback("chord", first, first - timedelta(minutes=5))
        other = first + timedelta(microseconds=1)
        assert not chord_repo.claim_callback("chord", other, first - timedelta(minutes=5))

    def test_done_chords_are_never_claimed_again(self, chord_repo: ChordCounterRepository) -> None:
        """After callback_done, no claim succeeds and recovery does not list the chord."""
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        now = COUNTER_CREATED + DAY
        assert chord_repo.claim_callback("chord", now, now)
        chord_repo.callback_done("chord", now)
        chord_repo.callback_done("never-created", now)
        counter = chord_repo.get("chord")
        assert counter is not None
        assert counter.date_done == now
        assert not chord_repo.claim_callback("chord", now + DAY, now + DAY)
        assert chord_repo.awaiting_callback(now + 2 * DAY, limit=10) == []

    def test_awaiting_callback_lists_only_stuck_chords(
        self, chord_repo: ChordCounterRepository
    ) -> None:
        """Finished, unsent, unclaimed or stale, with a callback: listed oldest first."""
        minute = timedelta(minutes=1)
        for name, count in [("running", 1), ("stuck-1", 1), ("stuck-2", 1), ("no-callback", 1)]:
            chord_repo.create(
                make_counter(
                    group_id=name,
                    count=count,
                    callback=None if name == "no-callback" else "cb",
                    date_created=COUNTER_CREATED + (minute if name == "stuck-1" else 0 * minute),
                )
            )
        for name in ("stuck-1", "stuck-2", "no-callback"):
            assert chord_repo.count_part(name, "t").is_last
        chord_repo.create(
            make_counter(
                group_id="young", count=0, callback="cb", date_created=COUNTER_CREATED + DAY
            )
        )
        stale_before = COUNTER_CREATED + 2 * minute
        due = chord_repo.awaiting_callback(stale_before, limit=10)
        assert [c.group_id for c in due] == ["stuck-2", "stuck-1"]
        assert [c.group_id for c in chord_repo.awaiting_callback(stale_before, limit=1)] == [
            "stuck-2"
        ]
        # A fresh claim hides a chord until it goes stale.
        assert chord_repo.claim_callback("stuck-2", stale_before, stale_before)
        assert [c.group_id for c in chord_repo.awaiting_callback(stale_before, limit=10)] == [
            "stuck-1"
        ]

    def test_concurrent_claims_have_one_winner(self, chord_repo: ChordCounterRepository) -> None:
        """8 threads claim one finished chord at once, each at its own time: exactly one wins."""
        if not getattr(chord_repo, "atomic_decrement", False):
            pytest.skip(f"{type(chord_repo).__name__} declares atomic_decrement = False")
        chord_repo.create(make_counter(group_id="chord", count=1, callback="cb"))
        assert chord_repo.count_part("chord", "t").is_last
        now = COUNTER_CREATED + DAY
        times = iter(range(8))
        lock = threading.Lock()

        def claim() -> bool:
            # Each claimant its own time (a claim's identity), as each process's clock gives.
            with lock:
                claimed_at = now + timedelta(microseconds=next(times))
            return chord_repo.claim_callback("chord", claimed_at, now)

        wins = self.run_concurrently(8, claim)
        assert sum(wins) == 1
