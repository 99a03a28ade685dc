"""django-cache with ``DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER`` (issue 9, defect 6).

By default the backend hands Python objects to the cache, which pickles them and unpickles
whatever it finds. With the setting on, metas and groups are stored as text serialized by
Celery's ``result_serializer`` and read back only within ``accept_content``: a planted pickle
in that text is refused, not run; entries written before the switch (Python objects) are read
only if pickle is accepted. The text-only cache serializers close the cache's own pickle on
Redis and memcached; without them a raw pickle written to the server still runs
(docs/django-cache.md says so, and a test here pins it).
"""

from __future__ import annotations

import base64
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import states
from celery.canvas import Signature
from celery.exceptions import ChordError
from celery.result import AsyncResult, GroupResult
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test.utils import override_settings

from django_celery_results.adapters.django_cache.serializers import (
    TextMemcacheSerde,
    TextRedisSerializer,
)
from django_celery_results.backends import CacheBackend
from django_celery_results.domain.errors import InvalidRecordError
from django_celery_results.domain.keyvalue import TEXT_MARK
from tests import settings as test_settings
from tests.integration.cache_backend_support import (
    ALIASES,
    ATOMIC,
    NEEDS_MEMCACHED,
    NEEDS_REDIS,
    Request,
    backend_of,
    make_app,
)
from tests.integration.test_cache_store import cache_alias_params

SETTING = "DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER"
PICKLE = "application/x-python-serialize"

#: What unpickling ``Planted`` did: nothing, as long as the pickle is refused.
RAN: list[str] = []


def _ran(marker: str) -> dict[str, Any]:
    RAN.append(marker)
    return {"status": states.SUCCESS, "result": "planted"}


class Planted:
    """Unpickles into a call of ``_ran`` (what an attacker's pickle would do, harmlessly)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _ran, ("unpickled",)


@pytest.fixture(autouse=True)
def nothing_ran() -> Iterator[None]:
    """Every test starts with no planted pickle run."""
    RAN.clear()
    yield
    RAN.clear()


def json_backend(alias: str, *accept: str, **conf: Any) -> CacheBackend:
    """A backend on ``alias`` with result_serializer json and accept_content ``accept``."""
    return backend_of(
        make_app(
            cache_backend=alias,
            result_serializer="json",
            accept_content=list(accept or ["json"]),
            **conf,
        )
    )


@pytest.fixture
def text_mode() -> Iterator[None]:
    """The setting on."""
    with override_settings(**{SETTING: True}):
        yield


@pytest.fixture(params=cache_alias_params(ALIASES))
def alias(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    """Each cache alias of tests.settings (the database cache's table created)."""
    with django_db_blocker.unblock():
        call_command("createcachetable", "dcr_cache_entries", database="default", verbosity=0)
        yield request.param


# -- the setting --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_setting_must_be_a_bool(value: Any) -> None:
    """Anything but True or False is an ImproperlyConfigured naming the setting."""
    with override_settings(**{SETTING: value}), pytest.raises(ImproperlyConfigured, match=SETTING):
        make_app(cache_backend="locmem").backend  # noqa: B018 - building it reads the setting


def test_off_by_default_the_serializer_stays_pickle() -> None:
    """Without the setting the backend keeps the old package's pickle, whatever is configured."""
    assert json_backend("locmem").serializer == "pickle"


def test_on_the_backend_uses_result_serializer(text_mode: None) -> None:
    """With the setting the backend's serializer and accept list are Celery's."""
    backend = json_backend("locmem")
    assert backend.serializer == "json"
    assert backend.accept == {"application/json"}


# -- text mode on every cache -------------------------------------------------------------


def test_results_are_stored_as_text_and_read_back(alias: str, text_mode: None) -> None:
    """Metas are JSON text in the cache; values, failures and groups read back as Celery's."""
    backend = json_backend(alias)
    app = backend.app
    done, failed = str(uuid.uuid4()), str(uuid.uuid4())
    backend.mark_as_done(done, {"answer": [1, 2]}, request=Request())
    backend.mark_as_failure(failed, KeyError("gone"), traceback="tb", request=Request())
    raw = caches[alias].get(backend.get_key_for_task(done))
    assert isinstance(raw, str)
    assert raw.startswith(f"{TEXT_MARK}\napplication/json\nutf-8\n")
    assert '"answer": [1, 2]' in raw
    assert backend.get_task_meta(done, cache=False)["result"] == {"answer": [1, 2]}
    meta = backend.get_task_meta(failed, cache=False)
    assert meta["status"] == states.FAILURE
    assert isinstance(meta["result"], KeyError)
    assert meta["traceback"] == "tb"
    group_id = str(uuid.uuid4())
    members: list[AsyncResult[Any]] = [AsyncResult(done, app=app), AsyncResult(failed, app=app)]
    backend.save_group(group_id, GroupResult(group_id, members, app=app))
    assert isinstance(caches[alias].get(backend.get_key_for_group(group_id)), str)
    restored = backend.restore_group(group_id, cache=False)
    assert restored is not None
    assert [r.id for r in restored.results or []] == [done, failed]
    for task_id in (done, failed):
        backend.forget(task_id)
    backend.delete_group(group_id)


@pytest.mark.parametrize("alias", cache_alias_params(ATOMIC))
def test_chords_fire_in_text_mode(
    alias: str, text_mode: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chord counted in the cache fires with every result when values are stored as text."""
    sent: list[Any] = []
    monkeypatch.setattr(Signature, "delay", lambda self, *args, **kwargs: sent.append(args))
    backend = json_backend(alias)
    app = backend.app
    group_id, task_ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    body = app.signature("tests.tsum")
    backend.apply_chord((group_id, [AsyncResult(t, app=app) for t in task_ids]), body)
    for index, task_id in enumerate(task_ids):
        request = Request(id=task_id, group=group_id, chord=dict(body))
        backend.mark_as_done(task_id, index, request=request)
    assert sent == [([0, 1, 2],)]


# -- what is refused ----------------------------------------------------------------------


def planted_text(value: Any) -> str:
    """``value`` pickled, in the text form of a pickle entry (as if a pickle writer had run)."""
    payload = base64.b64encode(pickle.dumps(value)).decode("ascii")
    return f"{TEXT_MARK}\n{PICKLE}\nbinary\n{payload}"


@pytest.mark.parametrize("alias", cache_alias_params(("locmem", "redis")))
def test_planted_pickle_text_is_refused_not_run(alias: str, text_mode: None) -> None:
    """A pickle entry under a task key is refused under accept_content=["json"]; nothing runs."""
    backend = json_backend(alias)
    task_id = str(uuid.uuid4())
    backend.set(backend.get_key_for_task(task_id), planted_text(Planted()))
    with pytest.raises(InvalidRecordError, match="untrusted content of type pickle"):
        backend.get_task_meta(task_id, cache=False)
    with pytest.raises(InvalidRecordError, match="untrusted content of type pickle"):
        AsyncResult(task_id, app=backend.app).state  # noqa: B018 - reading is the point
    assert RAN == []
    # A new state replaces what could not be read.
    backend.mark_as_started(task_id)
    assert backend.get_task_meta(task_id, cache=False)["status"] == states.STARTED
    backend.forget(task_id)


def test_planted_pickle_group_is_refused_not_run(text_mode: None) -> None:
    """A pickle entry under a group key is refused too."""
    backend = json_backend("locmem")
    group_id = str(uuid.uuid4())
    backend.set(backend.get_key_for_group(group_id), planted_text(Planted()))
    with pytest.raises(InvalidRecordError, match="untrusted content of type pickle"):
        backend.restore_group(group_id, cache=False)
    assert RAN == []


@pytest.mark.parametrize("alias", cache_alias_params(("locmem", "redis")))
def test_entries_written_before_are_refused_unless_pickle_is_accepted(alias: str) -> None:
    """Objects written with the setting off are refused with it on, unless pickle is accepted."""
    task_id, group_id = str(uuid.uuid4()), str(uuid.uuid4())
    before = json_backend(alias)
    before.mark_as_done(task_id, {1, 2}, request=Request())
    before.save_group(group_id, GroupResult(group_id, [AsyncResult(task_id, app=before.app)]))
    with override_settings(**{SETTING: True}):
        after = json_backend(alias)
        with pytest.raises(InvalidRecordError, match="stored as a Python object"):
            after.get_task_meta(task_id, cache=False)
        with pytest.raises(InvalidRecordError, match="stored as a Python object"):
            after.restore_group(group_id, cache=False)
        trusting = json_backend(alias, "json", "pickle")
        assert trusting.get_task_meta(task_id, cache=False)["result"] == {1, 2}
        restored = trusting.restore_group(group_id, cache=False)
        assert restored is not None
        assert [r.id for r in restored.results or []] == [task_id]
    before.forget(task_id)
    before.delete_group(group_id)


def test_text_entries_read_after_switching_back() -> None:
    """Entries written with the setting on still read (within accept_content) with it off."""
    task_id = str(uuid.uuid4())
    with override_settings(**{SETTING: True}):
        json_backend("locmem").mark_as_done(task_id, {"kept": True}, request=Request())
    assert json_backend("locmem").get_task_meta(task_id, cache=False)["result"] == {"kept": True}


# -- the cache's own pickle: text-only serializers ----------------------------------------

TEXT_REDIS = "redis-text"
TEXT_MEMCACHED = "memcached-text"


@pytest.fixture
def text_caches(text_mode: None) -> Iterator[None]:
    """A Redis and a memcached alias whose cache serializers store only ints and text."""
    extra: dict[str, dict[str, Any]] = {}
    if "redis" in test_settings.CACHES:
        extra[TEXT_REDIS] = {
            **test_settings.CACHES["redis"],
            "OPTIONS": {"serializer": f"{TextRedisSerializer.__module__}.TextRedisSerializer"},
        }
    if "memcached" in test_settings.CACHES:
        extra[TEXT_MEMCACHED] = {
            **test_settings.CACHES["memcached"],
            "OPTIONS": {"serde": TextMemcacheSerde()},
        }
    with override_settings(CACHES={**test_settings.CACHES, **extra}):
        yield


def plant_raw_redis_pickle(alias: str, key: str) -> None:
    """Write a pickle of ``Planted`` straight to Redis under the cache key of ``key``."""
    client = caches[alias]._cache.get_client(write=True)  # type: ignore[attr-defined]
    client.set(caches[alias].make_key(key), pickle.dumps(Planted()), ex=300)


@NEEDS_REDIS
def test_raw_pickle_on_redis_runs_with_djangos_serializer(text_mode: None) -> None:
    """The limit the README states: Django's RedisCache unpickles a raw pickle before we see it."""
    backend = json_backend("redis")
    task_id = str(uuid.uuid4())
    plant_raw_redis_pickle("redis", backend.get_key_for_task(task_id))
    with pytest.raises(InvalidRecordError):
        backend.get_task_meta(task_id, cache=False)
    assert RAN == ["unpickled"]
    backend.forget(task_id)


@NEEDS_REDIS
def test_text_redis_serializer_refuses_a_raw_pickle(text_caches: None) -> None:
    """With TextRedisSerializer a raw pickle on the server is refused, never unpickled."""
    backend = json_backend(TEXT_REDIS)
    task_id = str(uuid.uuid4())
    plant_raw_redis_pickle(TEXT_REDIS, backend.get_key_for_task(task_id))
    with pytest.raises(InvalidRecordError, match="not unpickled"):
        backend.get_task_meta(task_id, cache=False)
    assert RAN == []
    backend.forget(task_id)


@NEEDS_MEMCACHED
def test_text_memcache_serde_refuses_a_raw_pickle(text_caches: None) -> None:
    """With TextMemcacheSerde a value flagged as a pickle is refused, never unpickled."""
    from pymemcache.client.base import Client  # type: ignore[import-untyped]

    backend = json_backend(TEXT_MEMCACHED)
    task_id = str(uuid.uuid4())
    host, _, port = test_settings.MEMCACHED_LOCATION.rpartition(":")
    raw = Client((host, int(port)))
    key = caches[TEXT_MEMCACHED].make_key(backend.get_key_for_task(task_id))
    raw.set(key, pickle.dumps(Planted()), expire=300, flags=1)
    raw.close()
    with pytest.raises(InvalidRecordError, match="not unpickled"):
        backend.get_task_meta(task_id, cache=False)
    assert RAN == []
    backend.forget(task_id)


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param(TEXT_REDIS, marks=NEEDS_REDIS),
        pytest.param(TEXT_MEMCACHED, marks=NEEDS_MEMCACHED),
    ],
)
def test_text_only_caches_carry_results_groups_and_chords(
    alias: str, text_caches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything the backend stores with the setting on passes a text-only cache serializer.

    Results, failures, a chord that fires, a chord whose failed header stores a ChordError;
    a value that is not text is refused when written.
    """
    sent: list[Any] = []
    monkeypatch.setattr(Signature, "delay", lambda self, *args, **kwargs: sent.append(args))
    backend = json_backend(alias)
    app = backend.app
    for fails in (False, True):
        group_id, task_ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(2)]
        body = app.signature("tests.tsum")
        body.freeze()
        backend.apply_chord((group_id, [AsyncResult(t, app=app) for t in task_ids]), body)
        requests = [Request(id=t, group=group_id, chord=dict(body)) for t in task_ids]
        backend.mark_as_done(task_ids[0], 1, request=requests[0])
        if fails:
            backend.mark_as_failure(task_ids[1], KeyError("x"), request=requests[1])
            outcome = backend.get_task_meta(str(body.id), cache=False)
            assert outcome["status"] == states.FAILURE
            assert isinstance(outcome["result"], ChordError)
            assert isinstance(backend.get_task_meta(task_ids[1], cache=False)["result"], KeyError)
        else:
            backend.mark_as_done(task_ids[1], 2, request=requests[1])
            assert sent == [([1, 2],)]
    with pytest.raises(TypeError, match="only int and str"):
        caches[alias].set("not-text", {"a": 1})
