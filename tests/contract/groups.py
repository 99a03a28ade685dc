"""The ``GroupRepository`` contract: round trips, replacing, deleting, expiry."""

from __future__ import annotations

from datetime import timedelta

import attrs

from django_celery_results.domain.ports import GroupRepository
from tests.contract.support import T0, UNICODE, assert_same_group, dates_around, full_group

__all__ = ["GroupRepositoryContract"]


class GroupRepositoryContract:
    """The ``GroupRepository`` contract (domain/ports.py); needs a ``group_repo`` fixture."""

    def test_get_unknown_id_is_none(self, group_repo: GroupRepository) -> None:
        """get() of a group never saved returns None."""
        assert group_repo.get("never-saved") is None

    def test_round_trip_every_field(self, group_repo: GroupRepository) -> None:
        """Every field of a saved group reads back equal, dates aware and to the microsecond."""
        record = full_group()
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_round_trip_unicode_and_long_result(self, group_repo: GroupRepository) -> None:
        """Non-ASCII ids and content, and a result of several hundred KB, are stored whole."""
        record = full_group(
            group_id=f"group-{UNICODE}",
            content_type=f"application/x-{UNICODE}",
            content_encoding=f"enc-{UNICODE}",
            result=f'"{UNICODE}' + "ü" * 300_000 + '"',
        )
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_round_trip_none_result(self, group_repo: GroupRepository) -> None:
        """A group saved with no result reads back with None."""
        record = full_group(result=None)
        group_repo.save(record)
        assert_same_group(group_repo.get(record.group_id), record)

    def test_replace_keeps_date_created(self, group_repo: GroupRepository) -> None:
        """Saving an existing group replaces every field except date_created."""
        group_repo.save(full_group(date_created=T0))
        new = full_group(
            content_type="application/x-yaml",
            content_encoding="utf-8",
            result="- other",
            date_created=T0 + timedelta(days=2),
            date_done=T0 + timedelta(days=2, microseconds=1),
        )
        group_repo.save(new)
        assert_same_group(group_repo.get(new.group_id), attrs.evolve(new, date_created=T0))

    def test_groups_are_independent(self, group_repo: GroupRepository) -> None:
        """Saving one group does not change another."""
        a, b = full_group("group-a", result='"a"'), full_group("group-b", result='"b"')
        group_repo.save(a)
        group_repo.save(b)
        assert_same_group(group_repo.get("group-a"), a)
        assert_same_group(group_repo.get("group-b"), b)

    def test_delete_removes_only_that_group(self, group_repo: GroupRepository) -> None:
        """delete() removes the group and leaves the others."""
        group_repo.save(full_group("group-a"))
        group_repo.save(full_group("group-b"))
        group_repo.delete("group-a")
        assert group_repo.get("group-a") is None
        assert group_repo.get("group-b") is not None

    def test_delete_unknown_id_is_fine(self, group_repo: GroupRepository) -> None:
        """delete() of a group never saved (or already deleted) raises nothing."""
        group_repo.delete("never-saved")
        group_repo.save(full_group())
        group_repo.delete("group-1")
        group_repo.delete("group-1")
        assert group_repo.get("group-1") is None

    def test_save_after_delete_starts_afresh(self, group_repo: GroupRepository) -> None:
        """After delete(), a save() is a first write with its own date_created."""
        group_repo.save(full_group(date_created=T0))
        group_repo.delete("group-1")
        fresh = full_group(date_created=T0 + timedelta(days=1))
        group_repo.save(fresh)
        assert_same_group(group_repo.get("group-1"), fresh)

    def test_delete_done_before_boundary(self, group_repo: GroupRepository) -> None:
        """Groups done strictly before the cutoff go; one done exactly at it stays."""
        cutoff = T0 + timedelta(days=1)
        done = dates_around(cutoff)
        for group_id, date_done in done.items():
            group_repo.save(full_group(group_id, date_created=T0, date_done=date_done))

        assert group_repo.delete_done_before(cutoff, batch_size=100) == 2
        remaining = {g for g in done if group_repo.get(g) is not None}
        assert remaining == {"at-cutoff", "just-after"}

    def test_delete_done_before_counts_across_batches(self, group_repo: GroupRepository) -> None:
        """With a small batch_size, every old group goes and the total count is returned."""
        cutoff = T0 + timedelta(days=1)
        old = [f"old-{n}" for n in range(7)]
        young = [f"young-{n}" for n in range(3)]
        for n, group_id in enumerate(old):
            group_repo.save(full_group(group_id, date_done=cutoff - timedelta(seconds=n + 1)))
        for group_id in young:
            group_repo.save(full_group(group_id, date_done=cutoff + timedelta(seconds=1)))

        assert group_repo.delete_done_before(cutoff, batch_size=2) == 7
        assert {g for g in old + young if group_repo.get(g) is not None} == set(young)

    def test_delete_done_before_with_nothing_old(self, group_repo: GroupRepository) -> None:
        """With no group older than the cutoff, nothing goes and the count is 0."""
        group_repo.save(full_group("young", date_done=T0))
        assert group_repo.delete_done_before(T0, batch_size=10) == 0
        assert group_repo.get("young") is not None
