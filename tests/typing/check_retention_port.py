"""Static proof that the ORM's retention target satisfies ``domain.retention.RetentionTarget``.

mypy checks this, pytest never runs it (see ``check_ports.py``). The ``type: ignore`` line is
the negative check: strict mypy fails if it ever stops being an error.
"""

from __future__ import annotations

from django_celery_results.adapters.django_orm.expiry import TableRetention
from django_celery_results.adapters.django_orm.repositories import (
    DjangoChordCounterRepository,
    DjangoGroupRepository,
    DjangoTaskRepository,
)
from django_celery_results.adapters.memory import MemoryTaskRepository
from django_celery_results.domain.retention import RetentionTarget

__all__: list[str] = []

_orm: RetentionTarget = TableRetention(
    DjangoTaskRepository(), DjangoGroupRepository(), DjangoChordCounterRepository()
)
_not_a_target: RetentionTarget = MemoryTaskRepository()  # type: ignore[assignment]
