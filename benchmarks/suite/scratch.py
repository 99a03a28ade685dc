"""Scratch databases and cache entries, one per target and implementation, dropped at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.suite.config import (
    MARIADB,
    MEMCACHED,
    PG,
    REDIS_URL,
    connect_mariadb,
    connect_postgresql,
)
from benchmarks.suite.targets import Target

__all__ = ["Scratch", "cache_entry"]


class Scratch:
    """Empty databases made for this run (one per target and implementation), dropped at exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._drops: list[Callable[[], None]] = []

    def database(self, target: Target, impl: str) -> dict[str, Any]:
        """A new database for ``impl`` on ``target`` as a Django ``DATABASES`` entry."""
        name = f"dcr_bench_{os.getpid()}_{target.key}_{impl}"
        if target.kind == "cache" or target.key == "sqlite":
            # Cache targets still need a settings entry; the backend never touches it.
            path = self.directory / f"{name}.sqlite3"
            path.unlink(missing_ok=True)
            return {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"timeout": 30},
            }
        if target.key == "postgresql":
            from psycopg import sql

            def admin(statement: Any) -> None:
                with connect_postgresql(autocommit=True) as conn:
                    conn.execute(statement)

            ident = sql.Identifier(name)
            admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            admin(sql.SQL("CREATE DATABASE {}").format(ident))
            self._drops.append(
                lambda: admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            )
            return {"ENGINE": "django.db.backends.postgresql", **PG, "NAME": name}

        def run(statement: str) -> None:
            conn = connect_mariadb()
            try:
                conn.cursor().execute(statement)
            finally:
                conn.close()

        # The name is ours (letters, digits, underscores): quoting it is enough.
        run(f"DROP DATABASE IF EXISTS `{name}`")
        run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self._drops.append(lambda: run(f"DROP DATABASE IF EXISTS `{name}`"))
        return {
            "ENGINE": "django.db.backends.mysql",
            **MARIADB,
            "NAME": name,
            "OPTIONS": {"charset": "utf8mb4"},
        }

    def drop_all(self) -> None:
        """Drop every server database made; SQLite files go with the directory."""
        for drop in reversed(self._drops):
            with contextlib.suppress(Exception):
                drop()
        self._drops.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def cache_entry(target: Target, impl: str) -> dict[str, Any] | None:
    """The ``CACHES`` entry of ``impl`` on a cache target, None on a database."""
    prefix = f"dcrbench{os.getpid()}{impl}"
    if target.key == "locmem":
        # Room for every result a scenario keeps (the default culls beyond 300 entries).
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": prefix,
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    if target.key == "redis":
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    if target.key == "memcached":
        return {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": MEMCACHED,
            "KEY_PREFIX": prefix,
        }
    return None
