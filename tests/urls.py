"""URLs for the tests: the admin and the results views."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("results/", include("django_celery_results.urls")),
]
