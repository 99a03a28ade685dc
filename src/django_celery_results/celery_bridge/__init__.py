"""The composition roots: Celery backend classes that translate Celery's hooks into domain calls."""
