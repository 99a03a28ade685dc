"""What the CacheBackend tests share: the caches they run on, a worker's request, the app.

The tests of CacheBackend's Celery hooks are split by concern (``test_cache_backend_*.py``); the
constants, helpers and fixtures several of them use live here, and the other django-cache tests
(serializer, chords, chord recovery and faults) import them from here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery
from django.core.management import call_command

from django_celery_results.backends import CacheBackend
from tests import settings as test_settings

__all__ = [
    "ALIASES",
    "ATOMIC",
    "NEEDS_MEMCACHED",
    "NEEDS_REDIS",
    "Request",
    "backend_of",
    "cache_table",
    "make_app",
    "redis_commands",
]

ALIASES = ("locmem", "filebased", "database", "redis", "memcached")
ATOMIC = ("locmem", "redis", "memcached")
NEEDS_REDIS = pytest.mark.skipif(
    "redis" in test_settings.SKIPPED_CACHES, reason="Redis is not reachable"
)
NEEDS_MEMCACHED = pytest.mark.skipif(
    "memcached" in test_settings.SKIPPED_CACHES, reason="memcached is not reachable"
)


class Request:
    """A stand-in for a worker's task request, with the fields the backend reads."""

    def __init__(self, **fields: Any) -> None:
        self.id = fields.pop("id", str(uuid.uuid4()))
        self.task = "tests.add"
        self.args = [1, 2]
        self.kwargs: dict[str, Any] = {}
        self.hostname = "worker-1@example"
        self.retries = 0
        self.delivery_info = {"routing_key": "celery"}
        self.group = fields.pop("group", None)
        self.parent_id = None
        self.children: list[Any] = []
        self.chord = fields.pop("chord", None)
        self.chain = None
        self.errbacks: list[Any] = []
        self.ignore_result = False
        assert not fields, fields


def make_app(**conf: Any) -> Celery:
    """A Celery app whose result backend is django-cache, with the given settings."""
    app = Celery("cache-backend-tests", set_as_current=False)
    app.conf.update({"result_backend": "django-cache", "result_expires": 300, **conf})
    return app


def backend_of(app: Celery) -> CacheBackend:
    """The app's backend, which these tests configure to be ours."""
    backend = app.backend
    assert isinstance(backend, CacheBackend)
    return backend


@pytest.fixture
def cache_table(django_db_setup: None, django_db_blocker: Any) -> None:
    """The database cache's table in the test database."""
    with django_db_blocker.unblock():
        call_command("createcachetable", "dcr_cache_entries", database="default", verbosity=0)


@contextlib.contextmanager
def redis_commands() -> Iterator[list[str]]:
    """Record the name of every command sent to Redis (each one a round trip)."""
    import redis

    sent: list[str] = []
    real: Callable[..., Any] = redis.Redis.execute_command

    def counting(self: Any, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return real(self, *args, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.Redis, "execute_command", counting)
        yield sent
