"""Adapters: storage behind the domain's ports (memory, Django ORM, Django cache)."""

from __future__ import annotations

__all__: list[str] = []
