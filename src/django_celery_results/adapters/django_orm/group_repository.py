"""``DjangoGroupRepository``: group records over ``django_celery_results_groupresult``.

``save`` is one upsert (the dialect's), keeping the stored ``date_created``; reads are one
``SELECT``. Rows become ``GroupRecord`` and back.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connections

from ...domain.records import GroupRecord
from .errors import translate_errors
from .expiry import delete_before
from .models import GroupResult
from .tables import DjangoTable, record_fields, to_record, utc_now

__all__ = ["GROUP_FIELDS", "DjangoGroupRepository"]

#: ``GroupRecord`` attributes, which are also ``GroupResult`` field names, in column order.
GROUP_FIELDS: tuple[str, ...] = record_fields(GroupRecord)


class DjangoGroupRepository(DjangoTable):
    """``GroupRepository`` over ``django_celery_results_groupresult``; ``save`` is one upsert.

    Args:
        using: the database alias; None follows the routers (see ``DjangoTaskRepository``).
    """

    model = GroupResult

    def save(self, record: GroupRecord) -> None:
        """Insert or replace the group in one statement, keeping the stored ``date_created``."""
        alias = self.write_alias()
        now = utc_now()
        values_by_name = {name: getattr(record, name) for name in GROUP_FIELDS}
        values_by_name["date_created"] = record.date_created or now
        values_by_name["date_done"] = record.date_done or now
        with translate_errors(alias, writing=record):
            connection = connections[alias]
            bound = self.bound(connection)
            values = [bound.prepare(name, values_by_name[name]) for name in GROUP_FIELDS]
            self.upsert_row(
                connection,
                GROUP_FIELDS,
                values,
                key="group_id",
                replace=("content_type", "content_encoding", "result", "date_done"),
            )

    def get(self, group_id: str) -> GroupRecord | None:
        """The stored group (one ``SELECT``), or None."""
        row = self.get_row(GROUP_FIELDS, "group_id", group_id)
        return None if row is None else to_record(GroupRecord, GROUP_FIELDS, row)

    def delete(self, group_id: str) -> None:
        """Remove the group (one ``DELETE``); an unknown id is not an error."""
        self.delete_by("group_id", group_id)

    def delete_done_before(self, cutoff: datetime, batch_size: int | None) -> int:
        """Remove groups with ``date_done < cutoff`` (batches as for tasks)."""
        return delete_before(self, cutoff, batch_size)
