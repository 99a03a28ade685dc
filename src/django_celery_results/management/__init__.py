"""Management commands of the results app (``manage.py recover_chords``)."""

from __future__ import annotations

__all__: list[str] = []
