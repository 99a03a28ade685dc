"""Cleanup of django-db chord counters (issue 3): expired counters go with their parts.

Pins that ``backend.cleanup()`` deletes the counters older than ``result_expires`` and their
counted parts, and leaves a fresh chord counting and completing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_celery_results.adapters.django_orm.models import ChordCounter as ChordCounterModel
from django_celery_results.adapters.django_orm.models import ChordPart
from tests.integration.chords_support import (
    db_backend,
    make_app,
    report,
    start_chord,
    store_successes,
)
from tests.integration.conftest import SentCallbacks
from tests.routers import route_results_to

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

# -- 6. cleanup -----------------------------------------------------------------------------------


def test_cleanup_removes_expired_counters_and_their_parts(
    db_alias: str, sent_callbacks: SentCallbacks
) -> None:
    """backend.cleanup() deletes counters older than result_expires, with their parts."""
    with route_results_to(db_alias):
        backend = db_backend(make_app(result_expires=timedelta(hours=1)))
        old_group, old_ids, old_callback = start_chord(backend, 3)
        new_group, new_ids, new_callback = start_chord(backend, 3)
        store_successes(backend, db_alias, {old_ids[0]: 1, new_ids[0]: 1})
        report(backend, old_group, old_ids[0], old_callback)
        report(backend, new_group, new_ids[0], new_callback)
        counters = ChordCounterModel.objects.using(db_alias)
        parts = ChordPart.objects.using(db_alias)
        assert parts.filter(group_id=old_group).count() == 1
        past = backend.app.now() - timedelta(hours=2)
        counters.filter(group_id=old_group).update(date_created=past)

        backend.cleanup()

        assert not counters.filter(group_id=old_group).exists()
        assert not parts.filter(group_id=old_group).exists()
        assert counters.get(group_id=new_group).count == 2
        assert list(parts.filter(group_id=new_group).values_list("task_id", flat=True)) == [
            new_ids[0]
        ]
        # The fresh chord still counts, and completes.
        store_successes(backend, db_alias, {new_ids[1]: 2, new_ids[2]: 3})
        report(backend, new_group, new_ids[1], new_callback)
        report(backend, new_group, new_ids[2], new_callback)
    assert sent_callbacks.sent == [(new_callback.id, "tests.tsum", ([1, 2, 3],))]
