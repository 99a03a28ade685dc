"""The Django cache adapter against the KeyValueStore contract on every kind of cache.

Local memory, files, the database cache, Redis (``RedisCache``) and memcached
(``PyMemcacheCache``); a cache ``tests.settings`` could not reach skips with the probe's reason
(on CI it is an error there). Then what only this adapter promises: its declared capabilities,
the translation of client errors, and round trips counted on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext, override_settings

from django_celery_results.adapters.django_cache import DjangoCacheStore
from django_celery_results.adapters.django_cache.errors import classify
from django_celery_results.domain.errors import (
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from django_celery_results.domain.ports import KeyValueStore
from tests import settings as test_settings
from tests.keyvalue_contract import KeyValueStoreContract

#: What each alias of tests.settings must declare: (atomic_increment, atomic_add).
CAPABILITIES = {
    "locmem": (True, True),
    "filebased": (False, False),
    "database": (False, False),
    "redis": (True, True),
    "memcached": (True, True),
}


def cache_alias_params(aliases: tuple[str, ...] = tuple(CAPABILITIES)) -> list[Any]:
    """``aliases`` as pytest params; those tests.settings could not reach skip with the reason."""
    return [
        pytest.param(
            alias,
            id=alias,
            marks=[pytest.mark.skip(reason=test_settings.SKIPPED_CACHES[alias])]
            if alias in test_settings.SKIPPED_CACHES
            else [],
        )
        for alias in aliases
    ]


@pytest.fixture
def cache_table(django_db_setup: None, django_db_blocker: Any) -> None:
    """The database cache's table in the test database (``createcachetable`` is idempotent)."""
    with django_db_blocker.unblock():
        call_command("createcachetable", "dcr_cache_entries", database="default", verbosity=0)


@pytest.mark.django_db(transaction=True)
class TestDjangoCacheStore(KeyValueStoreContract):
    """DjangoCacheStore honours the KeyValueStore contract on each cache."""

    @pytest.fixture(params=cache_alias_params())
    def kv(self, request: pytest.FixtureRequest, cache_table: None) -> KeyValueStore:
        """The adapter over one cache alias of tests.settings."""
        return DjangoCacheStore(request.param)

    def contract_thread_finished(self) -> None:
        """Close the thread's cache clients and database connections (both are per thread)."""
        for cache in caches.all(initialized_only=True):
            cache.close()
        connections.close_all()


# -- capabilities --------------------------------------------------------------------------


@pytest.mark.parametrize("alias", cache_alias_params())
def test_declared_capabilities(alias: str) -> None:
    """Atomic increment and add are declared for Redis, memcached and local memory only."""
    store = DjangoCacheStore(alias)
    assert (store.atomic_increment, store.atomic_add) == CAPABILITIES[alias]


def test_capabilities_can_be_overridden() -> None:
    """A cache class the adapter does not know can be declared atomic by its user."""
    store = DjangoCacheStore("filebased", atomic_increment=True, atomic_add=True)
    assert (store.atomic_increment, store.atomic_add) == (True, True)


class TracingCache(LocMemCache):
    """A LocMemCache subclass, as a project might write one."""


def test_subclasses_keep_their_base_class_capability() -> None:
    """A project's subclass of a known cache class keeps that class's declaration."""
    backend = f"{TracingCache.__module__}.{TracingCache.__qualname__}"
    with override_settings(CACHES={"traced": {"BACKEND": backend, "LOCATION": "traced"}}):
        assert DjangoCacheStore("traced").atomic_increment is True


def test_unknown_classes_are_not_atomic() -> None:
    """A cache class the adapter does not know declares nothing atomic (chords then poll)."""
    with override_settings(
        CACHES={"dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    ):
        store = DjangoCacheStore("dummy")
        assert (store.atomic_increment, store.atomic_add) == (False, False)


def test_unknown_alias_is_a_configuration_error() -> None:
    """An alias missing from CACHES is refused at construction, naming the configured ones."""
    with pytest.raises(ImproperlyConfigured, match=r"'nope' is not configured.*'default'"):
        DjangoCacheStore("nope")


def test_max_key_length_leaves_room_for_the_key_prefix() -> None:
    """max_key_length is 250 less what Django puts in front (KEY_PREFIX:VERSION:)."""
    with override_settings(
        CACHES={
            "plain": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "prefixed": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "KEY_PREFIX": "p" * 20,
            },
        }
    ):
        assert DjangoCacheStore("plain").max_key_length == 250 - len(":1:")
        assert DjangoCacheStore("prefixed").max_key_length == 250 - len("p" * 20 + ":1:")


# -- errors --------------------------------------------------------------------------------


def unreachable(backend: str, location: str) -> Iterator[DjangoCacheStore]:
    """A store over a cache whose server does not listen."""
    with override_settings(CACHES={"down": {"BACKEND": backend, "LOCATION": location}}):
        caches["down"].close()
        yield DjangoCacheStore("down")


@pytest.fixture
def redis_down() -> Iterator[DjangoCacheStore]:
    """A RedisCache on a port nothing listens on."""
    yield from unreachable("django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:1/0")


@pytest.fixture
def memcached_down() -> Iterator[DjangoCacheStore]:
    """A PyMemcacheCache on a port nothing listens on."""
    yield from unreachable("django.core.cache.backends.memcached.PyMemcacheCache", "127.0.0.1:1")


@pytest.mark.parametrize(
    "operation",
    [
        lambda kv: kv.get("k"),
        lambda kv: kv.get_many(["k", "l"]),
        lambda kv: kv.set("k", 1, 60),
        lambda kv: kv.add("k", 1, 60),
        lambda kv: kv.incr("k", -1),
        lambda kv: kv.delete_many(["k"]),
        lambda kv: kv.touch("k", None),
    ],
    ids=["get", "get_many", "set", "add", "incr", "delete_many", "touch"],
)
def test_redis_connection_errors_are_transient(
    redis_down: DjangoCacheStore, operation: Callable[[DjangoCacheStore], Any]
) -> None:
    """A refused Redis connection is a TransientStorageError naming the alias, cause kept."""
    with pytest.raises(TransientStorageError) as info:
        operation(redis_down)
    assert info.value.alias == "down"
    assert type(info.value.__cause__).__module__.startswith("redis")


def test_memcached_connection_errors_are_transient(memcached_down: DjangoCacheStore) -> None:
    """A refused memcached connection is a TransientStorageError.

    pymemcache's HashClient raises the refusal once, then hides the server for
    ``retry_timeout`` seconds (reads miss, writes drop): see docs/django-cache.md.
    """
    with pytest.raises(TransientStorageError) as info:
        memcached_down.get("k")
    assert isinstance(info.value.__cause__, ConnectionError)


@pytest.mark.skipif("redis" in test_settings.SKIPPED_CACHES, reason="Redis is not reachable")
def test_redis_wrong_type_is_permanent() -> None:
    """Redis refusing an operation on a value (not a connection problem) is permanent."""
    store = DjangoCacheStore("redis")
    key = "kv-wrong-type"
    caches["redis"]._cache.get_client(write=True).lpush(caches["redis"].make_key(key), "x")  # type: ignore[attr-defined]
    try:
        with pytest.raises(PermanentStorageError):
            store.get(key)
    finally:
        store.delete(key)


@pytest.mark.parametrize(
    ("exception", "verdict"),
    [
        ("redis.exceptions:ConnectionError", True),
        ("redis.exceptions:TimeoutError", True),
        ("redis.exceptions:BusyLoadingError", True),
        ("redis.exceptions:ReadOnlyError", True),
        ("redis.exceptions:AuthenticationError", False),
        ("redis.exceptions:ResponseError", False),
        ("pymemcache.exceptions:MemcacheUnexpectedCloseError", True),
        ("pymemcache.exceptions:MemcacheError", True),
        ("pymemcache.exceptions:MemcacheClientError", False),
        ("pymemcache.exceptions:MemcacheServerError", False),
        ("builtins:ConnectionRefusedError", True),
        ("builtins:TimeoutError", True),
        ("builtins:PermissionError", False),
        ("builtins:RuntimeError", None),
        ("builtins:KeyError", None),
    ],
)
def test_classify(exception: str, verdict: bool | None) -> None:
    """Connection, timeout, loading and failover errors are transient; auth is not; bugs pass."""
    module_name, _, name = exception.partition(":")
    module = __import__(module_name, fromlist=[name])
    assert classify(getattr(module, name)("x")) is verdict


@pytest.mark.django_db
def test_database_errors_are_translated(cache_table: None) -> None:
    """A database cache whose table is missing raises PermanentStorageError, not Django's."""
    missing = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "no_table"}
    with (
        override_settings(CACHES={"missing": missing}),
        pytest.raises(PermanentStorageError) as info,
    ):
        DjangoCacheStore("missing").get("k")
    assert info.value.alias == "missing"
    assert not isinstance(info.value, TransientStorageError)


@pytest.mark.django_db
def test_database_cache_writes_that_django_swallows_are_raised(
    cache_table: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set or add that DatabaseCache dropped (it hides the DatabaseError) is a transient error.

    An add refused because the key exists is still just False.
    """
    from django.core.cache.backends.db import DatabaseCache

    store = DjangoCacheStore("database")
    store.set("kv-present", 1, 60)
    monkeypatch.setattr(DatabaseCache, "_base_set", lambda self, *args: False)
    with pytest.raises(TransientStorageError, match="dropped the set"):
        store.set("kv-k", 1, 60)
    with pytest.raises(TransientStorageError, match="dropped the add"):
        store.add("kv-k", 1, 60)
    assert store.add("kv-present", 2, 60) is False
    monkeypatch.undo()
    store.delete("kv-present")


def test_domain_errors_pass_through() -> None:
    """An error that is already a StorageError is not wrapped again."""
    from django_celery_results.adapters.django_cache.errors import translated_errors

    original = TransientStorageError("as raised", alias="x")
    with pytest.raises(StorageError) as info, translated_errors("y", lambda: None):
        raise original
    assert info.value is original


# -- on the wire ---------------------------------------------------------------------------


@pytest.mark.skipif("redis" in test_settings.SKIPPED_CACHES, reason="Redis is not reachable")
def test_redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis: get_many of 400 keys is one MGET; no timeout means no expiry (TTL -1)."""
    import redis

    commands: list[str] = []
    real: Callable[..., Any] = redis.Redis.execute_command

    def counting(self: Any, *args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return real(self, *args, **options)

    store = DjangoCacheStore("redis")
    keys = [f"kv-rt-{i}" for i in range(400)]
    try:
        store.set(keys[0], 1, None)
        monkeypatch.setattr(redis.Redis, "execute_command", counting)
        assert dict(store.get_many(keys)) == {keys[0]: 1}
        assert commands == ["MGET"]
        commands.clear()
        store.incr(keys[0], -1)
        assert commands == ["EXISTS", "INCRBY"]
        monkeypatch.undo()
        client = caches["redis"]._cache.get_client(write=True)  # type: ignore[attr-defined]
        assert client.ttl(caches["redis"].make_key(keys[0])) == -1
    finally:
        store.delete_many(keys)


@pytest.mark.skipif(
    "memcached" in test_settings.SKIPPED_CACHES, reason="memcached is not reachable"
)
def test_memcached_get_many_is_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """memcached: get_many of 400 keys is one ``get`` command."""
    from pymemcache.client.base import Client  # type: ignore[import-untyped]

    fetches: list[str] = []
    real = Client._fetch_cmd

    def counting(self: Any, name: bytes, *args: Any, **kwargs: Any) -> Any:
        fetches.append(name.decode())
        return real(self, name, *args, **kwargs)

    store = DjangoCacheStore("memcached")
    keys = [f"kv-rt-{i}" for i in range(400)]
    try:
        store.set(keys[3], "v", 60)
        monkeypatch.setattr(Client, "_fetch_cmd", counting)
        assert dict(store.get_many(keys)) == {keys[3]: "v"}
        assert len(fetches) == 1
    finally:
        store.delete_many(keys)


@pytest.mark.django_db(transaction=True)
def test_database_cache_get_many_is_one_query(cache_table: None) -> None:
    """The database cache reads 400 keys with one SELECT."""
    store = DjangoCacheStore("database")
    keys = [f"kv-rt-{i}" for i in range(400)]
    store.set(keys[5], "v", 60)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert dict(store.get_many(keys)) == {keys[5]: "v"}
    assert len(queries.captured_queries) == 1
    store.delete_many(keys)
