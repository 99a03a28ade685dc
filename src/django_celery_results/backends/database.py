"""``django_celery_results.backends.database.DatabaseBackend``, kept at the old import path.

The old module's other public names are here too: ``EXCEPTIONS_TO_CATCH``, ``logger`` and
``trigger_callback``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError

from ..celery_bridge.chords import fire_chord_callback
from ..celery_bridge.database import DatabaseBackend

__all__ = ["EXCEPTIONS_TO_CATCH", "DatabaseBackend", "logger", "trigger_callback"]

logger = logging.getLogger(__name__)

#: The errors after which the old backend closed the connection and tried again. Ours reset
#: the failed alias's connection after these and every other error that leaves it unusable
#: (``adapters/django_orm/errors.py``), and ``result_backend_always_retry`` retries the
#: transient ones; the tuple is kept for code that catches it.
EXCEPTIONS_TO_CATCH: tuple[type[BaseException], ...] = (InterfaceError,)


def trigger_callback(app: Any, callback: Any, group_result: Any) -> None:
    """Join ``group_result`` and send ``callback`` its results, or store a ChordError on it.

    The chord step of the old module, as code outside the backend may call it: the join is
    bounded by ``result_chord_join_timeout``, and a failed header task, a timeout or a
    callback that cannot be sent ends as a ChordError on the callback's result.
    """
    fire_chord_callback(app.backend, str(group_result.id), group_result, callback)
