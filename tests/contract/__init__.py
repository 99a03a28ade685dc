"""The behaviour of each storage port, written once and run against every adapter.

Like Django's ``SessionTestsMixin``: a concrete test module subclasses a contract class and
provides its fixture (``task_repo``, ``group_repo`` or ``chord_repo``) returning a fresh, empty
repository. An adapter that cannot honour a clause overrides that test with a docstring saying
why; a capability an adapter lacks is declared on the adapter (``atomic_decrement``) and the
test skips with the reason.

Tests that start threads call ``contract_thread_finished`` at the end of each thread; database
adapters override it to close the thread's connection (and must run those tests in a
transactional test case, so the other threads see the rows).

The class names do not start with ``Test`` so pytest collects only the concrete subclasses.

One module per port (``tasks``, ``groups``, ``chords``) and what they share (``support``);
the contracts and the helpers an adapter's tests use are importable from here. The contracts
of the other ports: ``tests/chord_part_contract.py`` and ``tests/keyvalue_contract.py``.
"""

from __future__ import annotations

from tests.contract.chords import ChordCounterRepositoryContract
from tests.contract.groups import GroupRepositoryContract
from tests.contract.support import T0, full_group, full_task
from tests.contract.tasks import TaskRepositoryContract

#: What the adapters' test modules import from here; the shared helpers are in ``support``.
__all__ = [
    "T0",
    "ChordCounterRepositoryContract",
    "GroupRepositoryContract",
    "TaskRepositoryContract",
    "full_group",
    "full_task",
]
