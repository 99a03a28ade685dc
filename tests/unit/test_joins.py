"""The native join's bookkeeping (``domain.joins``): pending ids, nested groups, limits."""

from __future__ import annotations

from django_celery_results.domain.joins import (
    DEFAULT_INTERVAL,
    NestedJoin,
    PollLimits,
    poll_interval,
)


def test_polled_ids_are_the_direct_members_and_the_tasks_in_nested_groups() -> None:
    """One poll reads the direct members and every task inside a nested group."""
    join = NestedJoin(["a", "b"], [("g1", ["c", "d"]), ("g2", ["e"])])
    assert join.direct == frozenset({"a", "b"})
    assert join.polled() == {"a", "b", "c", "d", "e"}


def test_a_group_is_completed_by_its_last_task_only() -> None:
    """A nested group is reported once, by the task that finishes it, and never again."""
    join = NestedJoin(["a"], [("g1", ["c", "d"]), ("g2", ["d"])])
    assert join.completed_by("a") == []
    assert join.completed_by("c") == []
    assert join.completed_by("d") == ["g1", "g2"]
    assert join.completed_by("d") == []
    assert join.polled() == {"a"}


def test_groups_with_no_task_are_done_from_the_start() -> None:
    """An empty nested group is listed at once and never polled."""
    join = NestedJoin([], [("empty", []), ("full", ["x"])])
    assert join.empty_groups == ["empty"]
    assert join.polled() == {"x"}


def test_timeout_counts_from_the_start() -> None:
    """The join times out once ``timeout`` seconds have passed, not before; None never."""
    limits = PollLimits(started=100.0, timeout=2.0)
    assert not limits.timed_out(101.9)
    assert limits.timed_out(102.0)
    assert not PollLimits(started=0.0).timed_out(1e9)


def test_max_iterations_stops_after_that_many_polls() -> None:
    """``count_poll`` allows another poll until ``max_iterations`` polls are done."""
    limits = PollLimits(started=0.0, max_iterations=2)
    assert limits.count_poll()
    assert not limits.count_poll()
    unlimited = PollLimits(started=0.0)
    assert all(unlimited.count_poll() for _ in range(100))


def test_poll_interval_defaults_to_celerys() -> None:
    """No interval means Celery's half second; a given one, including 0, is kept."""
    assert poll_interval(None) == DEFAULT_INTERVAL == 0.5
    assert poll_interval(0) == 0
    assert poll_interval(2.5) == 2.5
