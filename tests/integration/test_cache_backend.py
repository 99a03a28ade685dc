"""CacheBackend's Celery hooks on each cache: behaviour, key validity and round trips."""

from __future__ import annotations

import contextlib
import decimal
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from celery import Celery, states
from celery.app.backends import by_name
from celery.canvas import Signature
from celery.result import AsyncResult, GroupResult
from django.core.cache import CacheKeyWarning, caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext, override_settings

from django_celery_results.adapters.django_cache import DjangoCacheStore
from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.backends import CacheBackend
from django_celery_results.celery_bridge import composition
from tests import settings as test_settings
from tests.integration.test_cache_store import cache_alias_params

ALIASES = ("locmem", "filebased", "database", "redis", "memcached")
ATOMIC = ("locmem", "redis", "memcached")
NEEDS_REDIS = pytest.mark.skipif(
    "redis" in test_settings.SKIPPED_CACHES, reason="Redis is not reachable"
)
NEEDS_MEMCACHED = pytest.mark.skipif(
    "memcached" in test_settings.SKIPPED_CACHES, reason="memcached is not reachable"
)


class LedgerError(Exception):
    """A task's own exception type, with arguments and an attribute."""

    def __init__(self, account: str, missing: decimal.Decimal) -> None:
        super().__init__(account, missing)
        self.account = account
        self.missing = missing


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


@pytest.fixture(params=cache_alias_params(ALIASES))
def alias(
    request: pytest.FixtureRequest, cache_table: None, django_db_blocker: Any
) -> Iterator[str]:
    """Each cache alias of tests.settings in turn (the database cache may use the database)."""
    with django_db_blocker.unblock():
        yield request.param


@pytest.fixture
def backend(alias: str) -> CacheBackend:
    """A django-cache backend on ``alias``."""
    return backend_of(make_app(cache_backend=alias))


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


# -- results round-trip --------------------------------------------------------------------


def test_exceptions_round_trip_unchanged(backend: CacheBackend) -> None:
    """A failure's own exception type, arguments and attributes come back; so does its trace."""
    app = backend.app
    task_id = str(uuid.uuid4())
    exc = LedgerError("acct-1", decimal.Decimal("12.50"))
    backend.mark_as_failure(task_id, exc, traceback="Traceback: LedgerError", request=Request())
    result: AsyncResult[Any] = AsyncResult(task_id, app=app, backend=backend)
    assert result.state == states.FAILURE
    assert type(result.result) is LedgerError
    assert result.result.args == ("acct-1", decimal.Decimal("12.50"))
    assert result.result.missing == decimal.Decimal("12.50")
    assert backend.get_traceback(task_id) == "Traceback: LedgerError"
    with pytest.raises(LedgerError):
        result.get(timeout=5, disable_sync_subtasks=False)
    backend.forget(task_id)


def test_python_values_round_trip_unchanged(backend: CacheBackend) -> None:
    """Results that JSON cannot carry (sets, Decimals, aware datetimes, bytes) come back equal."""
    task_id = str(uuid.uuid4())
    value = {
        "set": {1, 2},
        "decimal": decimal.Decimal("0.1"),
        "when": datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        "bytes": b"\x00\xff",
        "tuple": (1, "a"),
    }
    backend.mark_as_done(task_id, value, request=Request())
    assert backend.get_task_meta(task_id, cache=False)["result"] == value
    backend.forget(task_id)


def test_pending_when_nothing_is_stored(backend: CacheBackend) -> None:
    """An unknown task reads as PENDING and does not exist."""
    task_id = str(uuid.uuid4())
    assert backend.get_task_meta(task_id)["status"] == states.PENDING
    assert not backend.task_result_exists(task_id)


def test_forget_removes_the_result(backend: CacheBackend) -> None:
    """forget() removes the result (both of its keys)."""
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, 1, request=Request())
    assert backend.task_result_exists(task_id)
    backend.forget(task_id)
    assert backend.get_task_meta(task_id, cache=False)["status"] == states.PENDING
    assert not backend.task_result_exists(task_id)


def test_groups_are_saved_restored_and_deleted(backend: CacheBackend) -> None:
    """A saved GroupResult restores with its members; delete removes it."""
    app = backend.app
    members: list[AsyncResult[Any]] = [AsyncResult(str(uuid.uuid4()), app=app) for _ in range(3)]
    group_id = str(uuid.uuid4())
    backend.save_group(group_id, GroupResult(group_id, members, app=app))
    restored = backend.restore_group(group_id, cache=False)
    assert isinstance(restored, GroupResult)
    assert [r.id for r in restored.results or []] == [r.id for r in members]
    backend.delete_group(group_id)
    assert backend.restore_group(group_id, cache=False) is None


# -- ids given as ints and UUIDs (issue 9, defect 3) ----------------------------------------


@pytest.mark.parametrize("task_id", [123, uuid.uuid4()], ids=["int", "uuid"])
def test_int_and_uuid_task_ids_are_stored_as_their_str(
    backend: CacheBackend, task_id: int | uuid.UUID
) -> None:
    """store_result(123 or a UUID) stores under str(id): it reads, exists and forgets by str."""
    backend.store_result(task_id, {"answer": 42}, states.SUCCESS)  # type: ignore[arg-type]
    meta = backend.get_task_meta(str(task_id), cache=False)
    assert (meta["status"], meta["result"], meta["task_id"]) == (
        states.SUCCESS,
        {"answer": 42},
        str(task_id),
    )
    read_back: Any = AsyncResult(str(task_id), app=backend.app).result
    assert read_back == {"answer": 42}
    assert backend.get_task_meta(task_id, cache=False)["result"] == {"answer": 42}  # type: ignore[arg-type]
    assert backend.task_result_exists(str(task_id))
    backend.forget(task_id)  # type: ignore[arg-type]
    assert backend.get_task_meta(str(task_id), cache=False)["status"] == states.PENDING


def test_int_and_uuid_states_follow_the_transition_policy(backend: CacheBackend) -> None:
    """A UUID id and its str() are one task: a late STARTED by str does not replace SUCCESS."""
    task_id = uuid.uuid4()
    backend.mark_as_done(task_id, "done", request=Request())  # type: ignore[arg-type]
    backend.mark_as_started(str(task_id))
    meta = backend.get_task_meta(str(task_id), cache=False)
    assert (meta["status"], meta["result"]) == (states.SUCCESS, "done")
    backend.forget(str(task_id))


def test_group_with_uuid_ids_restores_by_str(backend: CacheBackend) -> None:
    """GroupResult(id=UUID, members with UUID and int ids).save() restores by str(id), str ids."""
    app = backend.app
    group_id, member_ids = uuid.uuid4(), [uuid.uuid4(), 7]
    members: list[AsyncResult[Any]] = [AsyncResult(m, app=app) for m in member_ids]  # type: ignore[arg-type]
    GroupResult(group_id, members, app=app).save(backend=backend)  # type: ignore[arg-type]
    for member, value in zip(member_ids, ["a", "b"], strict=True):
        backend.store_result(member, value, states.SUCCESS)  # type: ignore[arg-type]
    restored = GroupResult.restore(str(group_id), backend=backend, app=app)
    assert restored is not None
    assert restored.id == str(group_id)
    assert [r.id for r in restored.results or []] == [str(m) for m in member_ids]
    assert restored.join_native(timeout=5) == ["a", "b"]
    assert backend.restore_group(group_id, cache=False) is not None  # type: ignore[arg-type]
    backend.delete_group(group_id)  # type: ignore[arg-type]
    assert backend.restore_group(str(group_id), cache=False) is None
    for member in member_ids:
        backend.forget(str(member))


@pytest.mark.parametrize("bad", [True, 1.5, b"", "", None, object()], ids=repr)
def test_other_id_types_are_refused(bad: Any) -> None:
    """Ids that are neither text, int nor UUID (nor a bool) are an error naming the field."""
    backend = backend_of(make_app(cache_backend="locmem"))
    with pytest.raises(ValueError, match="task_id"):
        backend.store_result(bad, 1, states.SUCCESS)


# -- expiry --------------------------------------------------------------------------------


@pytest.mark.parametrize("expires", [0, None])
def test_expires_zero_or_none_never_expires(expires: int | None) -> None:
    """result_expires 0 or None stores the result with no expiry (the old package: nothing)."""
    backend = backend_of(make_app(cache_backend="locmem", result_expires=expires))
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, "kept", request=Request())
    assert backend.get_task_meta(task_id, cache=False)["result"] == "kept"
    cache = caches["locmem"]
    for key in (backend.get_key_for_task(task_id), f"celery-task-final-{task_id}"):
        assert cache._expire_info[cache.make_key(key)] is None  # type: ignore[attr-defined]
    backend.forget(task_id)


@NEEDS_REDIS
@pytest.mark.parametrize("expires", [0, None, 120])
def test_expires_on_redis(expires: int | None) -> None:
    """On Redis, no expiry means no TTL; result_expires sets the TTL of both keys."""
    backend = backend_of(make_app(cache_backend="redis", result_expires=expires))
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, "kept", request=Request())
    client = caches["redis"]._cache.get_client(write=True)  # type: ignore[attr-defined]
    for key in (backend.get_key_for_task(task_id), f"celery-task-final-{task_id}"):
        ttl = client.ttl(caches["redis"].make_key(key))
        assert ttl == -1 if not expires else 110 < ttl <= 120
    backend.forget(task_id)


def test_results_expire_after_result_expires() -> None:
    """With result_expires = 1 a stored result is gone (PENDING) two seconds later."""
    backend = backend_of(make_app(cache_backend="locmem", result_expires=1))
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, 1, request=Request())
    time.sleep(1.2)
    assert backend.get_task_meta(task_id, cache=False)["status"] == states.PENDING


# -- the transition policy -----------------------------------------------------------------


def test_success_is_never_overwritten(backend: CacheBackend) -> None:
    """After SUCCESS, a late STARTED, FAILURE, RETRY or second SUCCESS changes nothing."""
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, "first", request=Request())
    backend.mark_as_started(task_id)
    backend.mark_as_failure(task_id, RuntimeError("worker lost"), request=Request())
    backend.mark_as_retry(task_id, RuntimeError("retry"), request=Request())
    backend.mark_as_done(task_id, "second", request=Request())
    meta = backend.get_task_meta(task_id, cache=False)
    assert (meta["status"], meta["result"]) == (states.SUCCESS, "first")
    backend.forget(task_id)


def test_success_survives_a_raced_write_of_its_task_key(backend: CacheBackend) -> None:
    """Even a late state that raced past the check and landed on the task key is not read."""
    task_id = str(uuid.uuid4())
    backend.mark_as_done(task_id, "done", request=Request())
    backend.set(backend.get_key_for_task(task_id), {"status": states.STARTED, "result": None})
    meta = backend.get_task_meta(task_id, cache=False)
    assert (meta["status"], meta["result"]) == (states.SUCCESS, "done")
    backend.forget(task_id)


def test_failure_then_success_is_written(backend: CacheBackend) -> None:
    """A task retried after a lost worker can still finish with SUCCESS over FAILURE."""
    task_id = str(uuid.uuid4())
    backend.mark_as_failure(task_id, RuntimeError("lost"), request=Request())
    backend.mark_as_done(task_id, "ok", request=Request())
    assert backend.get_task_meta(task_id, cache=False)["result"] == "ok"
    backend.forget(task_id)


# -- keys ----------------------------------------------------------------------------------

ODD_IDS = [
    "with space",
    "tab\tand\nnewline",
    "control\x00\x07\x1f\x7f",
    "ünïcödé-中文-🎉",
    "percent%20sign",
    "x" * 300,
    "é" * 250,
]


@pytest.mark.parametrize("task_id", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_ids_make_valid_keys(backend: CacheBackend, task_id: str) -> None:
    """Ids with spaces, control or non-ASCII characters, or 300 long, store on every cache.

    Django's key warnings (errors on memcached) are errors here, so any invalid key fails.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        backend.mark_as_done(task_id, task_id, request=Request())
        assert backend.get_task_meta(task_id, cache=False)["result"] == task_id
        group = GroupResult(task_id, [AsyncResult(task_id, app=backend.app)], app=backend.app)
        backend.save_group(task_id, group)
        assert backend.restore_group(task_id, cache=False) is not None
        backend.forget(task_id)
        backend.delete_group(task_id)


def test_global_keyprefix_applies_to_every_key() -> None:
    """Celery's global_keyprefix prefixes task, group, chord, final and part keys alike."""
    app = make_app(
        cache_backend="locmem", result_backend_transport_options={"global_keyprefix": "proj"}
    )
    naming = backend_of(app).results.naming
    assert naming.task_key("t") == "proj_celery-task-meta-t"
    assert naming.final_key("t") == "proj_celery-task-final-t"
    assert naming.group_key("g") == "proj_celery-taskset-meta-g"
    assert naming.chord_key("g") == "proj_chord-unlock-g"
    assert naming.part_key("g", "t") == "proj_celery-chord-part-g/t"


# -- round trips ---------------------------------------------------------------------------


def store_group(backend: CacheBackend, size: int) -> GroupResult:
    """``size`` finished tasks (the last one failed) as a GroupResult."""
    app = backend.app
    members: list[AsyncResult[Any]] = []
    for index in range(size):
        task_id = str(uuid.uuid4())
        if index == size - 1:
            backend.mark_as_failure(task_id, KeyError("last"), request=Request())
        else:
            backend.mark_as_done(task_id, index, request=Request())
        members.append(AsyncResult(task_id, app=app, backend=backend))
    return GroupResult(str(uuid.uuid4()), members, app=app)


@NEEDS_REDIS
def test_redis_round_trips_per_operation() -> None:
    """Redis commands: SUCCESS 2, another state 2, a read 1, a join of 50 results 1."""
    backend = backend_of(make_app(cache_backend="redis"))
    task_id = str(uuid.uuid4())
    with redis_commands() as sent:
        backend.mark_as_started(task_id)
    assert sent == ["MGET", "SET"]
    with redis_commands() as sent:
        backend.mark_as_done(task_id, 1, request=Request())
    assert sent == ["SET", "SET"]  # SET NX on the final key, SET on the task key
    with redis_commands() as sent:
        assert AsyncResult(task_id, app=backend.app).state == states.SUCCESS
    assert sent == ["MGET"]
    group = store_group(backend, 50)
    with redis_commands() as sent:
        values = group.join_native(timeout=5, propagate=False)
    assert sent == ["MGET"]
    assert values[:3] == [0, 1, 2]
    assert isinstance(values[-1], KeyError)


@NEEDS_MEMCACHED
def test_memcached_join_is_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """memcached: joining 50 stored results is one get command."""
    from pymemcache.client.base import Client  # type: ignore[import-untyped]

    backend = backend_of(make_app(cache_backend="memcached"))
    group = store_group(backend, 50)
    fetches: list[bytes] = []
    real = Client._fetch_cmd

    def counting(self: Any, name: bytes, *args: Any, **kwargs: Any) -> Any:
        fetches.append(name)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(Client, "_fetch_cmd", counting)
    assert len(group.join_native(timeout=5, propagate=False)) == 50
    assert len(fetches) == 1


@pytest.mark.django_db(transaction=True)
def test_database_cache_join_is_one_query(cache_table: None) -> None:
    """The database cache: joining 50 stored results is one SELECT."""
    backend = backend_of(make_app(cache_backend="database"))
    group = store_group(backend, 50)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert len(group.join_native(timeout=5, propagate=False)) == 50
    assert len(queries.captured_queries) == 1


def test_join_waits_for_pending_results() -> None:
    """join_native polls until every member is ready, then returns them in order."""
    backend = backend_of(make_app(cache_backend="locmem"))
    group = store_group(backend, 3)
    late: AsyncResult[Any] = AsyncResult(str(uuid.uuid4()), app=backend.app, backend=backend)
    waiting = GroupResult(str(uuid.uuid4()), [*(group.results or []), late], app=backend.app)
    polls: list[int] = []

    def finish_late() -> None:
        polls.append(1)
        backend.mark_as_done(late.id, "late", request=Request())

    values = waiting.join_native(timeout=5, interval=0.01, propagate=False, on_interval=finish_late)
    assert values[-1] == "late"
    assert polls == [1]


def test_join_times_out() -> None:
    """join_native raises Celery's TimeoutError when a member never finishes."""
    backend = backend_of(make_app(cache_backend="locmem"))
    never = GroupResult("g", [AsyncResult(str(uuid.uuid4()), app=backend.app)], app=backend.app)
    with pytest.raises(backend.TimeoutError):
        never.join_native(timeout=0.05, interval=0.01)


# -- chords --------------------------------------------------------------------------------


@pytest.fixture
def sent_callbacks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Records chord callbacks instead of sending them to a broker."""
    sent: list[tuple[str, Any]] = []

    def record(self: Signature[Any], *args: Any, **kwargs: Any) -> None:
        sent.append((self.task or "", args[0] if args else None))

    monkeypatch.setattr(Signature, "delay", record)
    return sent


def run_chord_parts(backend: CacheBackend, size: int, duplicates: int = 0) -> str:
    """Start a chord of ``size`` header tasks, store and report each (some twice)."""
    app = backend.app
    group_id = str(uuid.uuid4())
    header = GroupResult(group_id, [AsyncResult(str(uuid.uuid4()), app=app) for _ in range(size)])
    body = app.signature("tests.tsum")
    backend.apply_chord((group_id, header.results), body)
    reports = [*(header.results or []), *(header.results or [])[:duplicates]]
    for index, member in enumerate(reports):
        request = Request(id=member.id, group=group_id, chord=dict(body))
        backend.mark_as_done(member.id, index % size, request=request)
    return group_id


@pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))
def test_chord_callback_fires_once(
    alias: str, sent_callbacks: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chord counted in the cache sends its callback once, with every result, no unlock task."""
    backend = backend_of(make_app(cache_backend=alias))
    unlocks: list[Any] = []
    monkeypatch.setattr(backend, "fallback_chord_unlock", lambda *a, **k: unlocks.append(a))
    run_chord_parts(backend, 20, duplicates=5)
    assert sent_callbacks == [("tests.tsum", list(range(20)))]
    assert unlocks == []


def test_chord_with_uuid_ids_fires(sent_callbacks: list[tuple[str, Any]]) -> None:
    """A chord whose group and header task ids are UUID objects counts and fires by str(id)."""
    backend = backend_of(make_app(cache_backend="locmem"))
    app = backend.app
    group_id, task_ids = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    members: list[AsyncResult[Any]] = [AsyncResult(t, app=app) for t in task_ids]  # type: ignore[arg-type]
    body = app.signature("tests.tsum")
    backend.apply_chord((group_id, members), body)
    for index, task_id in enumerate(task_ids):
        request = Request(id=task_id, group=group_id, chord=dict(body))
        backend.mark_as_done(task_id, index, request=request)  # type: ignore[arg-type]
    assert sent_callbacks == [("tests.tsum", [0, 1])]


# The ways a chord fails (no counter, header gone, failed header task, join timeout, callback
# not sent) are pinned on every atomic cache in test_cache_chords.py, through Celery's own
# chord_error_from_stack.


@NEEDS_REDIS
def test_redis_round_trips_per_chord_part(sent_callbacks: list[tuple[str, Any]]) -> None:
    """Redis commands per header task: 3 to count it, 5 more for the last one.

    Counting is SET NX (the mark), EXISTS and INCRBY (Django's incr); the last part also claims
    the callback (SET NX), reads the header (GET), joins it (MGET), records the callback as
    sent (SET) and deletes the marks (DEL).
    """
    backend = backend_of(make_app(cache_backend="redis"))
    app = backend.app
    group_id = str(uuid.uuid4())
    members: list[AsyncResult[Any]] = [AsyncResult(str(uuid.uuid4()), app=app) for _ in range(3)]
    body = app.signature("tests.tsum")
    with redis_commands() as sent:
        backend.apply_chord((group_id, members), body)
    # The header and the counter, then for chord recovery the callback, a slot in this
    # minute's index (INCRBY of its count, or SET NX of the minute's first chord) and the
    # slot naming the chord.
    assert sent in (
        ["SET", "SET", "SET", "EXISTS", "INCRBY", "SET"],
        ["SET", "SET", "SET", "EXISTS", "SET", "SET"],
    )
    counted: list[list[str]] = []
    for member in members:
        backend.mark_as_done(member.id, 1, request=Request(id=member.id))
        request = Request(id=member.id, group=group_id, chord=dict(body))
        with redis_commands() as sent:
            backend.on_chord_part_return(request, states.SUCCESS, 1)
        counted.append(list(sent))
    assert counted[0] == counted[1] == ["SET", "EXISTS", "INCRBY"]
    # The last part also claims the callback (SET NX), reads and joins the header, records
    # the callback as sent (SET) and deletes the marks.
    assert counted[2] == ["SET", "EXISTS", "INCRBY", "SET", "GET", "MGET", "SET", "DEL"]
    assert sent_callbacks == [("tests.tsum", [1, 1, 1])]


@pytest.mark.parametrize("alias", cache_alias_params(("database", "filebased")))
def test_chords_fall_back_to_the_unlock_task(
    alias: str, cache_table: None, django_db_blocker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the increment is not atomic, Celery's chord_unlock task joins the chord.

    apply_chord sends it, and on_chord_part_return counts nothing in the cache.
    """
    with django_db_blocker.unblock():
        backend = backend_of(make_app(cache_backend=alias))
        unlocks: list[Any] = []
        monkeypatch.setattr(backend, "fallback_chord_unlock", lambda *a, **k: unlocks.append(a))
        group_id = run_chord_parts(backend, 3)
        assert len(unlocks) == 1
        assert backend.results.store.get(backend.get_key_for_chord(group_id)) is None


# -- drop-in: entries the old package wrote, and the other way round -------------------------

OLD_WRITES = """
from celery import Celery
from celery.result import AsyncResult, GroupResult
from django_celery_results.backends.cache import CacheBackend

app = Celery("old", set_as_current=False)
app.conf.update(result_backend="django-cache", cache_backend="shared", result_expires=600)
backend = CacheBackend(app=app)
backend.store_result("old-ok", {"answer": 42}, "SUCCESS")
backend.store_result("old-failed", ValueError("boom"), "FAILURE", traceback="old traceback")
backend.save_group("old-group", GroupResult("old-group", [AsyncResult("old-ok", app=app)], app=app))
"""

OLD_READS = """
from celery import Celery
from django_celery_results.backends.cache import CacheBackend

app = Celery("old", set_as_current=False)
app.conf.update(result_backend="django-cache", cache_backend="shared", result_expires=600)
backend = CacheBackend(app=app)
for task_id in ("new-ok", "new-failed"):
    meta = backend.get_task_meta(task_id)
    print(task_id, meta["status"], repr(meta["result"]))
print("group", [r.id for r in backend.restore_group("new-group").results])
"""


def test_old_and_new_package_read_each_others_entries(tmp_path: Any) -> None:
    """Results and groups the old package wrote read back here, and ours read back there.

    Both use the same keys (Celery's, for ordinary ids) and the same stored meta, so a
    deployment switching packages keeps its cached results (a file cache both can open).
    """
    from tests.oldpkg import run_old

    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
    shared["LOCATION"] = str(tmp_path / "shared-cache")
    run_old(OLD_WRITES, settings={"CACHES": {"default": shared, "shared": shared}})
    with override_settings(CACHES={**test_settings.CACHES, "shared": shared}):
        backend = backend_of(make_app(cache_backend="shared"))
        ok = backend.get_task_meta("old-ok")
        assert (ok["status"], ok["result"]) == (states.SUCCESS, {"answer": 42})
        failed = backend.get_task_meta("old-failed")
        assert failed["status"] == states.FAILURE
        assert isinstance(failed["result"], ValueError)
        assert failed["traceback"] == "old traceback"
        restored = backend.restore_group("old-group")
        assert restored is not None
        assert [r.id for r in restored.results or []] == ["old-ok"]

        backend.mark_as_done("new-ok", {"answer": 43}, request=Request())
        backend.mark_as_failure("new-failed", KeyError("gone"), request=Request())
        app = backend.app
        backend.save_group("new-group", GroupResult("new-group", [AsyncResult("new-ok", app=app)]))
    output = run_old(OLD_READS, settings={"CACHES": {"default": shared, "shared": shared}})
    assert output.splitlines() == [
        "new-ok SUCCESS {'answer': 43}",
        "new-failed FAILURE KeyError('gone')",
        "group ['new-ok']",
    ]
