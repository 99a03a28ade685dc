"""The pure core: records, policies and ports. Imports neither Django nor Celery."""

from __future__ import annotations

__all__: list[str] = []
