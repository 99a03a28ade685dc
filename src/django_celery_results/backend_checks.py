"""System checks of the result backends: the adapters chosen and the cache behind ``django-cache``.

Part of ``checks.py`` (which registers them), apart so that each module stays short; the
message helpers every check uses live here too. Which backend a project runs is read from
``CELERY_RESULT_BACKEND`` in Django's settings, as a project's Celery app reads it with
``namespace="CELERY"``; a backend configured in code only is unknown here, and the checks that
depend on it then assume the least.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError, connections, router
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .celery_bridge.cache import CacheBackend
from .celery_bridge.composition import (
    KEYVALUE_SETTING,
    SETTING,
    cache_store,
    configured_keyvalue_store,
    configured_repositories,
)
from .celery_bridge.database import DatabaseBackend

__all__ = [
    "APP_LABEL",
    "CULLING_CACHES",
    "DJANGO_MAX_ENTRIES",
    "backend_may_be",
    "cache_alias",
    "check_cache_table",
    "check_id",
    "composition_checks",
    "error",
    "is_set",
    "ours",
    "parsed",
    "per_process_cache_checks",
    "result_backend_class",
    "warning",
]

APP_LABEL = "django_celery_results"
#: Django's caches that cull themselves at ``MAX_ENTRIES`` (locmem has W001 already).
CULLING_CACHES = (FileBasedCache, DatabaseCache)
#: Their size when ``MAX_ENTRIES`` is not set (Django's ``BaseCache``).
DJANGO_MAX_ENTRIES = 300


def check_id(code: str) -> str:
    """The full id of check ``code`` (``E001`` -> ``django_celery_results.E001``)."""
    return f"{APP_LABEL}.{code}"


def error(code: str, msg: str, hint: str) -> CheckMessage:
    """An ``Error`` with this package's id ``code``."""
    return Error(msg, hint=hint, id=check_id(code))


def warning(code: str, msg: str, hint: str) -> CheckMessage:
    """A ``Warning`` with this package's id ``code``."""
    return CheckWarning(msg, hint=hint, id=check_id(code))


def is_set(name: str) -> bool:
    """Whether the project's settings define ``name``."""
    return hasattr(settings, name)


def ours(app_configs: Sequence[AppConfig] | None) -> bool:
    """Whether this app is among those checked (all of them when ``app_configs`` is None)."""
    return app_configs is None or any(config.label == APP_LABEL for config in app_configs)


def result_backend_class() -> type | None:
    """The backend class ``CELERY_RESULT_BACKEND`` names, if it is one of ours; else None.

    Read from Django's settings as a project's Celery app reads them (``namespace="CELERY"``):
    ``"django-cache"``, ``"django-db"`` (also as a URL scheme), or a dotted path or class.
    """
    value = getattr(settings, "CELERY_RESULT_BACKEND", None)
    if isinstance(value, str):
        name = value.split("://", 1)[0].split("+", 1)[0]
        aliases: dict[str, type] = {"django-cache": CacheBackend, "django-db": DatabaseBackend}
        if name in aliases:
            return aliases[name]
        try:
            value = import_string(value.replace(":", "."))
        except Exception:  # not a path to something importable: Celery's own backends, URLs
            return None
    for kind in (CacheBackend, DatabaseBackend):
        if isinstance(value, type) and issubclass(value, kind):
            return kind
    return None


def backend_may_be(kind: type) -> bool:
    """Whether the settings name backend ``kind``, or no backend (it may be set in code)."""
    if getattr(settings, "CELERY_RESULT_BACKEND", None) is None:
        return True
    return result_backend_class() is kind


def parsed(code: str, parse: Callable[[], object], hint: str) -> list[CheckMessage]:
    """The run time's parser called: what it raises becomes an error with its message."""
    try:
        parse()
    except Exception as exc:  # a user's factory may raise anything; a check must not crash
        return [error(code, str(exc), hint)]
    return []


def cache_alias() -> str:
    """The cache the ``django-cache`` backend stores into (as ``CacheBackend.cache_alias``)."""
    return str(getattr(settings, "CELERY_CACHE_BACKEND", None) or DEFAULT_CACHE_ALIAS)


def composition_checks() -> list[CheckMessage]:
    """E001 / E002 / E003, and W002 / W003: the adapters the composition root will choose."""
    found: list[CheckMessage] = []
    repositories = getattr(settings, SETTING, "orm")
    if repositories != "orm":
        found += parsed(
            "E001",
            configured_repositories,
            _(
                'Set %(setting)s to "orm" (the default), "memory" (tests only) or the dotted '
                "path of a callable that takes no arguments and returns "
                "django_celery_results.celery_bridge.composition.Repositories."
            )
            % {"setting": SETTING},
        )
    if repositories == "memory" and backend_may_be(DatabaseBackend):
        found.append(
            warning(
                "W003",
                _(
                    '%(setting)s = "memory": django-db keeps results in the memory of each '
                    "process, so a worker's results never reach the web process."
                )
                % {"setting": SETTING},
                _(
                    'Use "orm" (the default) outside tests, or add "%(id)s" to '
                    "SILENCED_SYSTEM_CHECKS in test settings that run the worker in-process."
                )
                % {"id": check_id("W003")},
            )
        )
    alias = cache_alias()
    uses_cache = backend_may_be(CacheBackend)
    if is_set("CELERY_CACHE_BACKEND") and uses_cache and "://" not in alias:
        try:
            cache_store(alias)
        except Exception as exc:
            found.append(
                error(
                    "E003",
                    _("CELERY_CACHE_BACKEND = %(value)r names no cache: %(error)s")
                    % {"value": alias, "error": exc},
                    _("Set CELERY_CACHE_BACKEND to one of the aliases of CACHES (%(aliases)s).")
                    % {"aliases": ", ".join(map(repr, settings.CACHES)) or "-"},
                )
            )
    store = getattr(settings, KEYVALUE_SETTING, "cache")
    if store != "cache":
        found += parsed(
            "E002",
            lambda: configured_keyvalue_store(alias),
            _(
                'Set %(setting)s to "cache" (the default), "memory" (tests only) or the dotted '
                "path of a callable that takes the cache alias and returns a KeyValueStore."
            )
            % {"setting": KEYVALUE_SETTING},
        )
    if store == "memory" and uses_cache:
        found.append(
            warning(
                "W002",
                _(
                    '%(setting)s = "memory": django-cache keeps results in the memory of each '
                    "process, so a worker's results never reach the web process."
                )
                % {"setting": KEYVALUE_SETTING},
                _(
                    'Use "cache" (the default) outside tests, or add "%(id)s" to '
                    "SILENCED_SYSTEM_CHECKS in test settings that run the worker in-process."
                )
                % {"id": check_id("W002")},
            )
        )
    return found


def per_process_cache_checks() -> list[CheckMessage]:
    """E011 / W001 / W007: ``django-cache`` on a cache that stores nothing, or one process's.

    W007: or on a cache that culls itself at Django's default size.
    """
    if result_backend_class() is not CacheBackend:
        return []
    if getattr(settings, KEYVALUE_SETTING, "cache") != "cache":
        return []
    alias = cache_alias()
    if alias not in settings.CACHES:
        return []  # E003
    backend = str(settings.CACHES[alias].get("BACKEND", ""))
    try:
        cache_class = import_string(backend)
    except ImportError:
        return []  # Django's own cache checks report it
    if issubclass(cache_class, DummyCache):
        return [
            error(
                "E011",
                _(
                    'CELERY_RESULT_BACKEND = "django-cache" on the cache %(alias)r, a '
                    "DummyCache (%(backend)s), which stores nothing: every result is lost."
                )
                % {"alias": alias, "backend": backend},
                _(
                    "Point CELERY_CACHE_BACKEND at a cache that workers and web processes share "
                    '(Redis, Memcached, a database cache), or use "django-db".'
                ),
            )
        ]
    if issubclass(cache_class, LocMemCache):
        return [
            warning(
                "W001",
                _(
                    'CELERY_RESULT_BACKEND = "django-cache" on the cache %(alias)r, a '
                    "LocMemCache (%(backend)s), which lives in one process: results a worker "
                    "stores are invisible to the web process and to other workers."
                )
                % {"alias": alias, "backend": backend},
                _(
                    "Point CELERY_CACHE_BACKEND at a cache that workers and web processes share "
                    '(Redis, Memcached, a database cache), or use "django-db"; if the worker '
                    'runs in this process (tests), add "%(id)s" to SILENCED_SYSTEM_CHECKS.'
                )
                % {"id": check_id("W001")},
            )
        ]
    params = settings.CACHES[alias]
    sized = "max_entries" in params or "MAX_ENTRIES" in (params.get("OPTIONS") or {})
    if issubclass(cache_class, CULLING_CACHES) and not sized:
        return [
            warning(
                "W007",
                _(
                    'CELERY_RESULT_BACKEND = "django-cache" on the cache %(alias)r '
                    "(%(backend)s) without MAX_ENTRIES: Django keeps %(limit)d entries there "
                    "and, when full, deletes a third of them, results and chord counters "
                    "included."
                )
                % {"alias": alias, "backend": backend, "limit": DJANGO_MAX_ENTRIES},
                _(
                    'Set CACHES[%(alias)r]["OPTIONS"]["MAX_ENTRIES"] above the number of '
                    "results you keep (a day's tasks for the default result_expires), or use "
                    "Redis or Memcached."
                )
                % {"alias": alias},
            )
        ]
    return []


def check_cache_table(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """E012: ``django-cache`` on a database cache whose table is missing (asks the database)."""
    if not ours(app_configs) or not databases or result_backend_class() is not CacheBackend:
        return []
    alias = cache_alias()
    if getattr(settings, KEYVALUE_SETTING, "cache") != "cache" or alias not in settings.CACHES:
        return []
    cache = caches[alias]
    if not isinstance(cache, DatabaseCache):
        return []
    database = router.db_for_write(cache.cache_model_class)
    if database not in set(databases):
        return []
    table: str = cache.cache_model_class._meta.db_table
    connection = connections[database]
    try:
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
    except DatabaseError:
        return []  # an unreachable database is not this check's finding
    if table in tables:
        return []
    return [
        error(
            "E012",
            _(
                'CELERY_RESULT_BACKEND = "django-cache" on the database cache %(alias)r, whose '
                "table %(table)r does not exist on the database %(database)r: every result "
                "write fails."
            )
            % {"alias": alias, "table": table, "database": database},
            _("Run manage.py createcachetable --database %(database)s.") % {"database": database},
        )
    ]
