"""Results in a key-value store: the ``django-cache`` backend's use cases, by concern.

The ``django-cache`` backend keeps each task's Celery meta (the mapping ``AsyncResult`` reads:
``status``, ``result``, ``traceback``, ...) as one value under a key, as the old package did, so
entries it wrote read back. What a cache cannot do in one step is made safe here:

- **A SUCCESS is final.** A cache has no conditional write, so read-then-write cannot stop a late
  STARTED or FAILURE landing on a SUCCESS. The first SUCCESS is therefore also *added* (set if
  absent, which Redis, Memcached, local memory and the database cache do atomically) under a
  second key that nothing ever overwrites, and readers prefer it. Both keys are read together in
  one ``get_many``. What remains of the race is written in ``KeyValueResultStore.store_meta``
  (``results``).
- **Chords count each header task once** with an atomic decrement (``chords``), and chords
  whose callback was never sent are found again through an index by start time (``recovery``).
- **Keys are plain ASCII** that every Django cache accepts (``keys``).
- **Values are Python objects or serialized text** (``values``).

Every public name of the modules is importable from here (``keyvalue.KeyNaming``), as it was
when this was one module.
"""

from __future__ import annotations

from ..records import Ident, id_text
from .chords import CHORD_COUNT_FLOOR, SHORT_COUNTS_CHECKED, UNCERTAIN, Retry, header_members
from .keys import (
    CHORD_PREFIX,
    DEFAULT_MAX_KEY_LENGTH,
    FINAL_PREFIX,
    GROUP_PREFIX,
    PART_PREFIX,
    RECOVERY_PREFIX,
    TASK_PREFIX,
    KeyNaming,
    escape_id,
)
from .recovery import CALLBACK_DONE, CLAIMED, RECOVERY_BUCKET_SECONDS, RECOVERY_HORIZON_SECONDS
from .results import KeyValueResultStore
from .values import (
    PICKLE_CONTENT_TYPE,
    TEXT_MARK,
    Meta,
    StoredValues,
    chord_lifetime,
    lifetime,
    may_replace,
    status_of,
)

__all__ = [
    "CALLBACK_DONE",
    "CHORD_COUNT_FLOOR",
    "CHORD_PREFIX",
    "CLAIMED",
    "DEFAULT_MAX_KEY_LENGTH",
    "FINAL_PREFIX",
    "GROUP_PREFIX",
    "PART_PREFIX",
    "PICKLE_CONTENT_TYPE",
    "RECOVERY_BUCKET_SECONDS",
    "RECOVERY_HORIZON_SECONDS",
    "RECOVERY_PREFIX",
    "SHORT_COUNTS_CHECKED",
    "TASK_PREFIX",
    "TEXT_MARK",
    "UNCERTAIN",
    "Ident",
    "KeyNaming",
    "KeyValueResultStore",
    "Meta",
    "Retry",
    "StoredValues",
    "chord_lifetime",
    "escape_id",
    "header_members",
    "id_text",  # re-exported from records: the bridge names ids of keys with it
    "lifetime",
    "may_replace",
    "status_of",
]
