"""Results stored through CacheBackend's hooks on each cache, and read back.

Pins the round trip of values and exceptions, PENDING and forget, groups, ids given as ints and
UUIDs (issue 9, defect 3), expiry (``result_expires``), the transition policy (SUCCESS is never
overwritten) and valid cache keys for odd ids, including Celery's ``global_keyprefix``.
"""

from __future__ import annotations

import decimal
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from celery import states
from celery.result import AsyncResult, GroupResult
from django.core.cache import CacheKeyWarning, caches

from django_celery_results.backends import CacheBackend
from tests.integration.cache_backend_support import (
    ALIASES,
    NEEDS_REDIS,
    Request,
    backend_of,
    make_app,
)

# A fixture is found by its name in the test module; "as" marks the import as deliberate.
from tests.integration.cache_backend_support import cache_table as cache_table
from tests.integration.test_cache_store import cache_alias_params


class LedgerError(Exception):
    """A task's own exception type, with arguments and an attribute."""

    def __init__(self, account: str, missing: decimal.Decimal) -> None:
        super().__init__(account, missing)
        self.account = account
        self.missing = missing


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


# Explicit ids: repr(object()) holds a memory address, which differs between pytest-xdist workers.
@pytest.mark.parametrize(
    "bad",
    [True, 1.5, b"", "", None, object()],
    ids=["True", "1.5", "b''", "''", "None", "object()"],
)
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
