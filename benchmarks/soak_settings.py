"""Django settings of the fault soak (``benchmarks/soak_app.py`` says what the variables mean).

The worker reaches the store through the fault proxy's port, the driver through the store's
own port: both read ``DCR_SOAK_PORT``.
"""

from __future__ import annotations

import os
from typing import Any

STORE = os.environ.get("DCR_SOAK_STORE", "postgresql")
PORT = int(os.environ.get("DCR_SOAK_PORT", "0"))
NAME = os.environ.get("DCR_SOAK_DB", "dcr_soak")
REDIS_DB = int(os.environ.get("DCR_SOAK_REDIS_DB", "13"))

#: The README's recommended retry settings: ~65 s of patience on average, and a 30 s outage
#: is outlasted unless 30 independent full-jitter sleeps are all unusually short (the
#: README gives the odds).
RETRY_SETTINGS: dict[str, Any] = {
    "result_backend_always_retry": True,
    "result_backend_max_retries": 30,
    "result_backend_base_sleep_between_retries_ms": 100,
    "result_backend_max_sleep_between_retries_ms": 5000,
}


def _databases() -> dict[str, Any]:
    if STORE == "postgresql":
        engine: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "USER": os.environ.get("TEST_PG_USER", "postgres"),
            "OPTIONS": {"connect_timeout": 5},
        }
    elif STORE == "mariadb":
        engine = {
            "ENGINE": "django.db.backends.mysql",
            "USER": os.environ.get("TEST_MARIADB_USER", "root"),
            "PASSWORD": os.environ.get("TEST_MARIADB_PASSWORD", ""),
            "OPTIONS": {"charset": "utf8mb4", "connect_timeout": 5},
        }
    else:
        # The cache backend needs no database; Django still wants one configured.
        return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    return {
        "default": {
            **engine,
            "HOST": "127.0.0.1",
            "PORT": PORT,
            "NAME": NAME,
            # Celery's Django fix-up closes the connection around every task (unless
            # CELERY_DB_REUSE_MAX is set), as in a default deployment: each task connects
            # through the proxy, so refusals hit the connects and cuts the queries in flight.
        }
    }


def _caches() -> dict[str, Any]:
    caches: dict[str, Any] = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    if STORE == "redis":
        caches["soak"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{PORT}/{REDIS_DB}",
            "KEY_PREFIX": NAME,
            "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 10},
        }
    return caches


SECRET_KEY = "fault-soak"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django_celery_results"]
DATABASES = _databases()
CACHES = _caches()
