"""What the app's management commands share: their help in the active language."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext

__all__ = ["TranslatedCommand"]


class TranslatedCommand(BaseCommand):
    """A command whose class-level ``help`` is marked with ``gettext_noop``.

    argparse cannot take a lazy string, and a ``gettext`` at class definition would freeze the
    language active at import; each instance translates the marked text when it is created.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The command, its help in the active language."""
        super().__init__(*args, **kwargs)
        self.help = gettext(type(self).help)
