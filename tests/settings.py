"""Django settings for the test suite: SQLite always, PostgreSQL and MariaDB when reachable.

Every reachable database is configured as its own alias (``default`` is SQLite), so one pytest
run exercises the ORM adapter on all of them. On CI (``CI=true``) an unreachable PostgreSQL or
MariaDB is an error; elsewhere those tests skip, and ``SKIPPED_DATABASES`` says why.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = os.environ.get("TEST_DEFAULT_AUTO_FIELD", "django.db.models.AutoField")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django_celery_results",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "tests.urls"

_TMP = Path(os.environ.get("TEST_TMPDIR", tempfile.gettempdir())) / f"dcr-tests-{os.getpid()}"

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
MY_HOST = os.environ.get("TEST_MARIADB_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("TEST_MARIADB_PORT", "3306"))
MY_USER = os.environ.get("TEST_MARIADB_USER", "root")
MY_PASSWORD = os.environ.get("TEST_MARIADB_PASSWORD", "")

#: alias -> reason, for the databases that are not configured here.
SKIPPED_DATABASES: dict[str, str] = {}


def _probe_postgres() -> str | None:
    # Django's backend runs on psycopg 3 or psycopg2: probe with whichever it will use.
    try:
        from tests import pg_admin
    except ImportError as exc:  # pragma: no cover - dev extra missing
        return f"neither psycopg nor psycopg2 is installed ({exc})"
    try:
        pg_admin.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable ({exc})"
    return None


def _probe_mariadb() -> str | None:
    try:
        import MySQLdb
    except ImportError as exc:  # pragma: no cover - dev extra missing
        return f"mysqlclient is not installed ({exc})"
    try:
        MySQLdb.connect(
            host=MY_HOST, port=MY_PORT, user=MY_USER, password=MY_PASSWORD, connect_timeout=3
        ).close()
    except Exception as exc:
        return f"MariaDB at {MY_HOST}:{MY_PORT} is not reachable ({exc})"
    return None


DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_TMP / "default.sqlite3"),
        # A file (not the shared in-memory database) so worker threads and processes share it.
        "TEST": {"NAME": str(_TMP / "test-default.sqlite3")},
        "OPTIONS": {"timeout": 30},
    },
}

_only = {a for a in os.environ.get("TEST_DATABASES", "default,postgres,mariadb").split(",") if a}

if "postgres" in _only:
    _reason = _probe_postgres()
    if _reason is None:
        DATABASES["postgres"] = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": PG_HOST,
            "PORT": PG_PORT,
            "USER": PG_USER,
            "NAME": "test",
            "TEST": {"NAME": f"test_dcr_{os.getpid()}"},
        }
    else:
        SKIPPED_DATABASES["postgres"] = _reason

if "mariadb" in _only:
    _reason = _probe_mariadb()
    if _reason is None:
        DATABASES["mariadb"] = {
            "ENGINE": "django.db.backends.mysql",
            "HOST": MY_HOST,
            "PORT": MY_PORT,
            "USER": MY_USER,
            "PASSWORD": MY_PASSWORD,
            "NAME": "test",
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": f"test_dcr_{os.getpid()}", "CHARSET": "utf8mb4"},
        }
    else:
        SKIPPED_DATABASES["mariadb"] = _reason

if IN_CI and SKIPPED_DATABASES:
    raise RuntimeError(
        "CI=true but these databases are unavailable: "
        + "; ".join(f"{k}: {v}" for k, v in SKIPPED_DATABASES.items())
    )

_TMP.mkdir(parents=True, exist_ok=True)

DATABASE_ROUTERS = ["tests.routers.SwitchableRouter"]

CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# -- caches for the django-cache backend: one alias per kind of cache -------------------------
# Keys carry this run's pid (KEY_PREFIX), so runs sharing a Redis or memcached never meet, and
# the tests delete what they wrote instead of flushing a server others may use.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
MEMCACHED_LOCATION = os.environ.get("TEST_MEMCACHED_LOCATION", "127.0.0.1:11211")
CACHE_KEY_PREFIX = f"dcr-tests-{os.getpid()}"
#: alias -> reason, for the caches that are not configured here.
SKIPPED_CACHES: dict[str, str] = {}


def _probe_redis() -> str | None:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - dev extra missing
        return f"redis-py is not installed ({exc})"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is not reachable ({exc})"
    return None


def _probe_memcached() -> str | None:
    try:
        from pymemcache.client.base import Client  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - dev extra missing
        return f"pymemcache is not installed ({exc})"
    host, _, port = MEMCACHED_LOCATION.rpartition(":")
    try:
        client = Client((host, int(port)), connect_timeout=3, timeout=3)
        client.version()
        client.close()
    except Exception as exc:
        return f"memcached at {MEMCACHED_LOCATION} is not reachable ({exc})"
    return None


# Django culls these three at 300 entries by default (a third of them at once), which would
# evict results and chord counters in the middle of a chord of 200.
_ROOMY: dict[str, Any] = {"MAX_ENTRIES": 100_000}
CACHES["locmem"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "dcr-results",
    "OPTIONS": _ROOMY,
}
CACHES["filebased"] = {
    "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
    "LOCATION": str(_TMP / "file-cache"),
    "OPTIONS": _ROOMY,
}
CACHES["database"] = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "dcr_cache_entries",
    "OPTIONS": _ROOMY,
}
_reason = _probe_redis()
if _reason is None:
    CACHES["redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": CACHE_KEY_PREFIX,
    }
else:
    SKIPPED_CACHES["redis"] = _reason
_reason = _probe_memcached()
if _reason is None:
    CACHES["memcached"] = {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": MEMCACHED_LOCATION,
        "KEY_PREFIX": CACHE_KEY_PREFIX,
    }
else:
    SKIPPED_CACHES["memcached"] = _reason

if IN_CI and SKIPPED_CACHES:
    raise RuntimeError(
        "CI=true but these caches are unavailable: "
        + "; ".join(f"{k}: {v}" for k, v in SKIPPED_CACHES.items())
    )

CELERY_RESULT_BACKEND = "django-db"

# Lets a subprocess check the schema at another id width (e.g. 191 for old MySQL utf8mb4).
if os.environ.get("DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH"):
    DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH = int(
        os.environ["DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH"]
    )
