"""Celery result backends that keep task results in Django's ORM or cache.

Configure Celery with ``result_backend = "django-db"`` or ``"django-cache"`` and add
``"django_celery_results"`` to ``INSTALLED_APPS``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["VERSION", "__version__", "version_info", "version_info_t"]

__version__ = "0.1.0"


class version_info_t(NamedTuple):  # noqa: N801 - the old package's public name
    """The version as numbers, for comparisons (the old package's ``version_info_t``)."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


def _parse_version(text: str) -> version_info_t:
    # "1.2.3" or "1.2.3rc1": three numbers, and whatever follows them as the release level.
    numbers, _, rest = text.partition("-")
    parts = numbers.split(".", 2)
    micro = parts[2] if len(parts) > 2 else "0"
    digits = len(micro) - len(micro.lstrip("0123456789"))
    return version_info_t(
        int(parts[0]), int(parts[1]), int(micro[:digits] or 0), micro[digits:] + rest, ""
    )


#: ``__version__`` as numbers: ``VERSION >= (2, 0)`` works as it did with the old package.
VERSION = version_info = _parse_version(__version__)
