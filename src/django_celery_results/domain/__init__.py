"""The pure core: records, policies and ports. Imports neither Django nor Celery.

Two use-case families, one per backend, offer the same steps in the form their storage allows:
``results.ResultStore`` (``django-db``: records over the repository ports) and
``keyvalue.KeyValueResultStore`` (``django-cache``: Celery's meta dicts over a key-value store).
"""

from __future__ import annotations

__all__: list[str] = []
