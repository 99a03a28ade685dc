"""CacheBackend's public interface and the cache it chooses.

Pins the ``django-cache`` entry point and the old import path, the pickle serializer whatever the
setting, the raw get/set/delete/incr/expire hooks, ``implements_incr`` on each cache, and which
cache or key-value store the settings pick (Celery's ``cache_backend``, Django's
``CELERY_CACHE_BACKEND``, ``DJANGO_CELERY_RESULTS_KEYVALUE_STORE``) with their errors.
"""

from __future__ import annotations

import uuid

import pytest
from celery import states
from celery.app.backends import by_name
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from django_celery_results.adapters.django_cache import DjangoCacheStore
from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.backends import CacheBackend
from django_celery_results.celery_bridge import composition
from tests import settings as test_settings
from tests.integration.cache_backend_support import ALIASES, ATOMIC, backend_of, make_app

# -- the public interface ------------------------------------------------------------------


def test_entry_point_names_the_backend() -> None:
    """``result_backend = "django-cache"`` resolves to CacheBackend through the entry point."""
    app = make_app()
    assert by_name("django-cache", app.loader) is CacheBackend


def test_importable_where_the_old_package_had_it() -> None:
    """CacheBackend is importable from .backends and .backends.cache."""
    from django_celery_results.backends.cache import CacheBackend as FromModule

    assert FromModule is CacheBackend


def test_serializer_is_pickle_whatever_the_setting() -> None:
    """The backend uses pickle even when result_serializer says json (the old package did)."""
    backend = backend_of(make_app(result_serializer="json", accept_content=["json"]))
    assert backend.serializer == "pickle"
    assert CacheBackend(make_app(), serializer="json").serializer == "pickle"


def test_encode_and_decode_pass_values_through() -> None:
    """encode/decode hand values to the cache as they are; the cache pickles them."""
    backend = backend_of(make_app())
    value = {"status": "SUCCESS", "result": object()}
    assert backend.encode(value) is value
    assert backend.decode(value) is value


def test_get_set_delete_on_string_keys() -> None:
    """get/set/delete work on the given string (or bytes) key in the configured cache."""
    backend = backend_of(make_app(cache_backend="locmem"))
    backend.set("plain-key", {"a": 1})
    assert backend.get("plain-key") == {"a": 1}
    assert backend.get(b"plain-key") == {"a": 1}
    assert caches["locmem"].get("plain-key") == {"a": 1}
    assert backend.mget(["plain-key", "absent"]) == [{"a": 1}, None]
    backend.delete("plain-key")
    assert backend.get("plain-key") is None


def test_incr_and_expire_hooks() -> None:
    """The incr hook creates a counter at 1 and counts up; expire changes a key's lifetime."""
    backend = backend_of(make_app(cache_backend="locmem"))
    key = f"counter-{uuid.uuid4()}"
    assert [backend.incr(key), backend.incr(key)] == [1, 2]
    backend.expire(key, 0)
    assert caches["locmem"]._expire_info[caches["locmem"].make_key(key)] is None  # type: ignore[attr-defined]
    backend.delete(key)


@pytest.mark.parametrize(("alias", "expected"), [(a, a in ATOMIC) for a in ALIASES])
def test_implements_incr_follows_the_cache(alias: str, expected: bool) -> None:
    """Chords are counted in the cache only where its increment is atomic."""
    if alias in test_settings.SKIPPED_CACHES:
        pytest.skip(test_settings.SKIPPED_CACHES[alias])
    assert backend_of(make_app(cache_backend=alias)).implements_incr is expected


# -- choosing the cache --------------------------------------------------------------------


def test_cache_backend_setting_names_the_alias() -> None:
    """Celery's cache_backend (CELERY_CACHE_BACKEND with the namespace) picks the cache."""
    backend = backend_of(make_app(cache_backend="locmem"))
    assert backend.cache_alias == "locmem"
    assert backend.cache_backend is caches["locmem"]


def test_django_setting_names_the_alias() -> None:
    """Without the Celery setting, Django's CELERY_CACHE_BACKEND setting picks the cache."""
    with override_settings(CELERY_CACHE_BACKEND="filebased"):
        backend = backend_of(make_app())
        assert backend.cache_backend is caches["filebased"]
        backend.store_result("via-django-setting", 1, states.SUCCESS)
        assert backend.get_task_meta("via-django-setting")["result"] == 1
        backend.forget("via-django-setting")


def test_default_cache_otherwise() -> None:
    """With neither setting, the default cache is used."""
    backend = backend_of(make_app())
    assert backend.cache_alias == "default"
    assert backend.cache_backend is caches["default"]


def test_unknown_alias_fails_on_first_use() -> None:
    """An alias missing from CACHES is an ImproperlyConfigured naming it."""
    backend = backend_of(make_app(cache_backend="nope"))
    with pytest.raises(ImproperlyConfigured, match="'nope'"):
        backend.store_result("t", 1, states.SUCCESS)


def test_a_store_can_be_injected() -> None:
    """A KeyValueStore given at construction replaces the cache (for a project's tests)."""
    store = MemoryKeyValueStore()
    backend = CacheBackend(make_app(), store=store)
    backend.store_result("injected", 5, states.SUCCESS)
    assert store.get("celery-task-meta-injected")["result"] == 5
    assert backend.get_task_meta("injected")["result"] == 5


#: The stores ``own_store`` built, by alias (``DJANGO_CELERY_RESULTS_KEYVALUE_STORE`` test).
OWN_STORES: dict[str, MemoryKeyValueStore] = {}


def own_store(alias: str) -> MemoryKeyValueStore:
    """A key-value store factory named by dotted path in the setting's test."""
    return OWN_STORES.setdefault(alias, MemoryKeyValueStore())


def not_a_store(alias: str) -> object:
    """A factory that returns something other than a key-value store."""
    return object()


def test_keyvalue_store_setting_defaults_to_the_cache() -> None:
    """Without DJANGO_CELERY_RESULTS_KEYVALUE_STORE (or with "cache") the Django cache is used."""
    for settings in ({}, {"DJANGO_CELERY_RESULTS_KEYVALUE_STORE": "cache"}):
        with override_settings(**settings):
            backend = backend_of(make_app(cache_backend="locmem"))
            assert isinstance(backend.store, DjangoCacheStore)
            backend.store_result("in-locmem", 1, states.SUCCESS)
            assert caches["locmem"].get("celery-task-meta-in-locmem")["result"] == 1
            backend.forget("in-locmem")


def test_memory_keyvalue_store_needs_no_cache() -> None:
    """The "memory" store keeps results in the process, one store per alias, no cache touched."""
    with override_settings(DJANGO_CELERY_RESULTS_KEYVALUE_STORE="memory"):
        backend = backend_of(make_app(cache_backend="locmem"))
        backend.store_result("in-memory", "kept", states.SUCCESS)
        other = backend_of(make_app(cache_backend="locmem"))
        assert other.get_task_meta("in-memory")["result"] == "kept"
    assert composition.memory_keyvalue_store("locmem").get("celery-task-meta-in-memory")
    assert caches["locmem"].get("celery-task-meta-in-memory") is None


def test_keyvalue_store_from_a_dotted_path() -> None:
    """A dotted path names a factory called with the backend's cache alias."""
    path = f"{__name__}.own_store"
    with override_settings(DJANGO_CELERY_RESULTS_KEYVALUE_STORE=path):
        backend = backend_of(make_app(cache_backend="redis"))
        backend.store_result("own", 3, states.SUCCESS)
    assert OWN_STORES["redis"].get("celery-task-meta-own")["result"] == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "must be 'cache', 'memory' or a dotted path, got 42"),
        ("", "must be 'cache', 'memory' or a dotted path, got ''"),
        ("nosuch.module.factory", "= 'nosuch.module.factory' is neither 'cache', 'memory' nor"),
        (f"{__name__}.not_a_store", "returned object, expected a KeyValueStore"),
    ],
)
def test_bad_keyvalue_store_setting_is_a_clear_error(value: object, message: str) -> None:
    """A bad DJANGO_CELERY_RESULTS_KEYVALUE_STORE names the setting, the value and the choices."""
    with override_settings(DJANGO_CELERY_RESULTS_KEYVALUE_STORE=value):
        backend = backend_of(make_app())
        with pytest.raises(ImproperlyConfigured, match="DJANGO_CELERY_RESULTS_KEYVALUE_STORE") as e:
            backend.store_result("t", 1, states.SUCCESS)
    assert message in str(e.value)
