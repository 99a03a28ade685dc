"""Settings of the demo project: SQLite and a file-system broker, so no server is needed.

Everything lives in ``DEMO_DATA_DIR`` (default: ``demo-data/`` at the repository root).
"""

from __future__ import annotations

import os
from pathlib import Path

DEMO_DATA = Path(os.environ.get("DEMO_DATA_DIR", Path(__file__).resolve().parents[2] / "demo-data"))

SECRET_KEY = "demo-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = ["django_celery_results"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DEMO_DATA / "db.sqlite3",
        # The worker writes while the demo reads: wait for SQLite's lock instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}

# --- Celery (read by demoproject/celery.py with namespace="CELERY") ---------------------------

# The results: this is the whole configuration a project needs.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True  # also store task name, args, kwargs, worker, retries
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True  # retry transient database errors

# The broker: kombu's file-system transport, one folder shared by the demo and its worker.
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(DEMO_DATA / "broker" / "queue"),
    "data_folder_out": str(DEMO_DATA / "broker" / "queue"),
    "control_folder": str(DEMO_DATA / "broker" / "control"),
    "store_processed": False,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TRACK_STARTED = True  # the worker stores STARTED before running a task
