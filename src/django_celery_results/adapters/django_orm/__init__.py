"""The ``django-db`` backend's adapter: the app's models and admin, and repositories over them.

One module per concern: ``models`` and ``admin`` (what Django loads), ``bound`` (a table as one
connection speaks it), ``dialects`` (the SQL of each family), ``tables``, ``transactions`` and
``expiry`` (what every repository shares), the task, group and chord repositories, the chord
part table and store, and ``errors`` (database exceptions into domain errors).
``repositories`` re-exports the repositories at their long-standing import path.
"""

from __future__ import annotations

__all__: list[str] = []
