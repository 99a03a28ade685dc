"""``KeyValueResultStore``: the ``django-cache`` backend's use cases, over a key-value store.

One of the two use-case families, one per backend: ``domain.results.ResultStore`` serves
``django-db`` with records (``TaskRecord``, ...) over repositories; this one serves
``django-cache`` with Celery's meta dicts under keys of a ``KeyValueStore``. Both offer the same
steps (store a state under the transition policy, read, forget, save a group, count a chord's
part, recover a chord), each in the form its storage allows. The chord steps come from
``chords.ChordCounting`` and ``recovery.ChordRecovery``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .. import states
from ..errors import InvalidRecordError
from ..ports import KeyValueStore
from ..records import Ident, id_text
from .chords import ChordCounting
from .keys import KeyNaming
from .recovery import ChordRecovery
from .values import Meta, StoredValues, as_meta, may_replace, status_of

__all__ = ["KeyValueResultStore"]


@attrs.frozen
class KeyValueResultStore(ChordCounting, ChordRecovery):
    """The result-keeping use cases over a ``KeyValueStore`` (the ``django-cache`` backend's).

    Attributes:
        store: where the values live.
        naming: how their keys are named.
        values: how metas and groups are stored (Python objects by default).
    """

    store: KeyValueStore
    naming: KeyNaming = attrs.field(factory=KeyNaming)
    values: StoredValues = attrs.field(factory=StoredValues)

    # -- tasks ---------------------------------------------------------------------------

    def store_meta(self, task_id: Ident, meta: Meta, timeout: float | None) -> bool:
        """Store a task's new meta under the transition policy; return whether it was written.

        A SUCCESS is *added* under the final key (only the first SUCCESS gets there, atomically
        where the store declares ``atomic_add``) and then written under the task key for
        readers of that key alone. Any other state reads both keys (one round trip) and is
        written unless ``states.may_overwrite`` forbids it.

        The race that remains: a non-SUCCESS state read before a SUCCESS was added is still
        written after it. It lands only under the task key; readers of this module see the
        final key first, so the SUCCESS is never lost. The same race can let a STARTED replace
        a FAILURE or REVOKED (no final key guards those).
        """
        status = status_of(meta)
        if status is None:
            raise InvalidRecordError("status", f"a meta needs a state name, got {meta!r}")
        task_key = self.naming.task_key(task_id)
        stored = self.values.dump(meta)
        if status == states.SUCCESS:
            if not self.store.add(self.naming.final_key(task_id), stored, timeout):
                return False
            self.store.set(task_key, stored, timeout)
            return True
        try:
            previous = self.get_meta(task_id)
        except InvalidRecordError:
            # A value this policy refuses to read (an object from before the switch to text)
            # guards nothing: the new state replaces it.
            previous = None
        if not may_replace(previous, status):
            return False
        self.store.set(task_key, stored, timeout)
        return True

    def get_meta(self, task_id: Ident) -> Meta | None:
        """A task's meta (its first SUCCESS if it has one), or None; one round trip."""
        return self.get_metas([task_id]).get(id_text("task_id", task_id))

    def get_metas(self, task_ids: Iterable[Ident]) -> dict[str, Meta]:
        """The metas stored for ``task_ids``, keyed by id (as text), read in one round trip."""
        keys: dict[str, tuple[str, bool]] = {}
        for ident in task_ids:
            task_id = id_text("task_id", ident)
            keys[self.naming.final_key(task_id)] = (task_id, True)
            keys[self.naming.task_key(task_id)] = (task_id, False)
        if not keys:
            return {}
        found = self.store.get_many(keys)
        metas: dict[str, Meta] = {}
        for key, value in found.items():
            task_id, final = keys[key]
            meta = as_meta(self.values.load(value, key), key)
            if meta is not None and (final or task_id not in metas):
                metas[task_id] = meta
        return metas

    def forget(self, task_id: Ident) -> None:
        """Remove a task's meta (both keys); an unknown id is not an error."""
        self.store.delete_many([self.naming.task_key(task_id), self.naming.final_key(task_id)])

    # -- groups --------------------------------------------------------------------------

    def save_group(self, group_id: Ident, value: Any, timeout: float | None) -> None:
        """Save a group result (replacing one with the same id)."""
        self.store.set(self.naming.group_key(group_id), self.values.dump(value), timeout)

    def get_group(self, group_id: Ident) -> Any:
        """The saved group result, or None."""
        key = self.naming.group_key(group_id)
        return self.values.load(self.store.get(key), key)

    def delete_group(self, group_id: Ident) -> None:
        """Remove a saved group; an unknown id is not an error."""
        self.store.delete(self.naming.group_key(group_id))
