"""Schema history of the results tables; names and effects match django-celery-results 2.x."""
