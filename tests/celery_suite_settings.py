"""Django settings for Celery's own integration suite (scripts/celery-integration).

One database, chosen by ``DCR_SUITE_DB``: ``sqlite`` (a file, so the suite's prefork worker
child and the test process share it) or ``postgres`` (a database named by
``DCR_SUITE_DB_NAME``, which the runner creates and drops). ``DCR_SUITE_DIR`` is the run's
scratch directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SECRET_KEY = "celery-suite-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_celery_results",
]

_KIND = os.environ.get("DCR_SUITE_DB", "sqlite")
_DIR = Path(os.environ.get("DCR_SUITE_DIR", "."))

DATABASES: dict[str, dict[str, Any]]
if _KIND == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_DIR / "results.sqlite3"),
            # The worker child and the test process write at once: wait for the lock.
            "OPTIONS": {"timeout": 30},
        }
    }
elif _KIND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("TEST_PG_HOST", "127.0.0.1"),
            "PORT": int(os.environ.get("TEST_PG_PORT", "5432")),
            "USER": os.environ.get("TEST_PG_USER", "postgres"),
            "NAME": os.environ.get("DCR_SUITE_DB_NAME", "dcr_celery_suite"),
        }
    }
else:  # pragma: no cover - a typo in the runner's environment
    raise RuntimeError(f"DCR_SUITE_DB must be 'sqlite' or 'postgres', not {_KIND!r}")
