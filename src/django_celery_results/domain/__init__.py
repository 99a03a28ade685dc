"""The pure core: records, policies and ports. Imports neither Django nor Celery."""
