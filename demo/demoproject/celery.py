"""The Celery app, configured from Django's settings (the ``CELERY_`` names)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoproject.settings")

app = Celery("demoproject", include=["demoproject.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
