"""Celery result backends that keep task results in Django's ORM or cache.

Configure Celery with ``result_backend = "django-db"`` or ``"django-cache"`` and add
``"django_celery_results"`` to ``INSTALLED_APPS``.

The version is written once, in ``pyproject.toml``; ``__version__`` is read from the installed
distribution's metadata, and ``VERSION`` / ``version_info`` are the old package's numeric form
of it (``VERSION >= (2, 0)`` works as it did with ``django-celery-results``).
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import NamedTuple

__all__ = ["VERSION", "__version__", "version_info", "version_info_t"]

#: The distribution whose metadata holds the version (the import name stays the old package's).
_DISTRIBUTION = "celery-results-django"
#: ``__version__`` when that distribution is not installed (this package imported from a
#: source tree on ``sys.path``, or vendored): a local version below every release, so that it
#: is never mistaken for one. ``pip install -e .`` gives a source tree its real version.
_UNKNOWN_VERSION = "0.0.0+unknown"


def _installed_version() -> str:
    """The installed distribution's version, or ``_UNKNOWN_VERSION`` when it is not installed."""
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return _UNKNOWN_VERSION


__version__ = _installed_version()


class version_info_t(NamedTuple):  # noqa: N801 - the old package's public name
    """The version as numbers, for comparisons (the old package's ``version_info_t``)."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


def _parse_version(text: str) -> version_info_t:
    """``"1.2.3rc1"`` as ``(1, 2, 3, "rc1", "")``: up to three numbers, then the rest as text.

    Missing numbers are 0 (``"1.2"`` is ``(1, 2, 0, "", "")``), as the old package's
    ``VERSION`` had them.
    """
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)", text, re.DOTALL)
    if match is None:
        return version_info_t(0, 0, 0, text, "")
    major, minor, micro, rest = match.groups()
    return version_info_t(int(major), int(minor or 0), int(micro or 0), rest, "")


#: ``__version__`` as numbers: ``VERSION >= (2, 0)`` works as it did with the old package.
VERSION = version_info = _parse_version(__version__)
