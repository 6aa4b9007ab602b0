"""Celery workers: the Celery app and its thin tasks (which call app services)."""
