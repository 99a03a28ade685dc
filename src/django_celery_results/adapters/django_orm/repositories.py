"""The ORM repositories, at the import path the bridge, the managers and the tests use.

The adapter keeps one module per concern; this one only re-exports the repositories:

- ``dialects``: the SQL of each family (ON CONFLICT, ON DUPLICATE KEY, portable);
- ``tables``: what every repository does with its table (routing, reads by key, upserts);
- ``transactions`` and ``expiry``: short write transactions, batched deletes by date;
- ``task_repository``, ``group_repository``, ``chord_repository``, ``chord_parts``: one table
  each; ``chord_part_store``: a header task's result and its count in one step.
"""

from __future__ import annotations

from .chord_part_store import DjangoChordPartStore
from .chord_repository import DjangoChordCounterRepository
from .group_repository import DjangoGroupRepository
from .task_repository import DjangoTaskRepository

__all__ = [
    "DjangoChordCounterRepository",
    "DjangoChordPartStore",
    "DjangoGroupRepository",
    "DjangoTaskRepository",
]
