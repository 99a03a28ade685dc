"""The Celery side: the backend classes and the composition root.

The backend classes are thin translations of Celery's hooks into domain calls; the composition
root (``composition``) chooses the adapters they run on.
"""

from __future__ import annotations

__all__: list[str] = []
