"""Adapters: storage behind the domain's ports (memory, Django ORM, Django cache)."""

__all__: list[str] = []
