"""Schema history of the results tables; names and effects match django-celery-results 2.x.

It lives at the old package's path, ``django_celery_results.migrations``, which is also where
Django reads it from (the app's ``name`` is the package root; see ``apps.py``).
"""
