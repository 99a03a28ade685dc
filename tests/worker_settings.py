"""Django settings for worker subprocesses: ``default`` is the database under test.

The test that starts the worker passes the database it uses (pytest-django's test database)
through environment variables, so the worker reads and writes the very rows the test checks:

- ``DCR_WORKER_DB_ENGINE``, ``DCR_WORKER_DB_NAME`` (required);
- ``DCR_WORKER_DB_HOST``, ``DCR_WORKER_DB_PORT``, ``DCR_WORKER_DB_USER``,
  ``DCR_WORKER_DB_PASSWORD`` (optional);
- ``DCR_WORKER_DB_OPTIONS``: the alias's ``OPTIONS`` as JSON (optional).

Deprecation warnings are errors in the worker and its pool children, as in the test run
(``tests.deprecations``): one raised by a task or by the backend fails that task, which the
test sees as a wrong result or a traceback in the worker's log.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests import deprecations

deprecations.install()


def _required(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise RuntimeError(
            f"tests.worker_settings needs {name}: the worker subprocess is started by a test "
            "that names the database under test"
        ) from None


SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = os.environ.get("TEST_DEFAULT_AUTO_FIELD", "django.db.models.AutoField")

INSTALLED_APPS = ["django_celery_results"]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": _required("DCR_WORKER_DB_ENGINE"),
        "NAME": _required("DCR_WORKER_DB_NAME"),
        "HOST": os.environ.get("DCR_WORKER_DB_HOST", ""),
        "PORT": os.environ.get("DCR_WORKER_DB_PORT", ""),
        "USER": os.environ.get("DCR_WORKER_DB_USER", ""),
        "PASSWORD": os.environ.get("DCR_WORKER_DB_PASSWORD", ""),
        "OPTIONS": json.loads(os.environ.get("DCR_WORKER_DB_OPTIONS", "{}")),
        # Celery's Django fix-up closes connections after every task unless they are kept:
        # reconnecting for each of thousands of tiny tasks would measure connects, not chords.
        "CONN_MAX_AGE": None,
    },
}

CELERY_RESULT_BACKEND = "django-db"

if os.environ.get("DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH"):
    DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH = int(
        os.environ["DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH"]
    )
