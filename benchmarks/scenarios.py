"""Benchmark scenarios for a Celery result backend, identical for every implementation.

``benchmarks/suite.py`` (behind ``./benchmarks/run``) runs this script once per implementation
and target, each in its own process and virtual environment:

- ``ours``: this package, through ``result_backend = "django-db"`` / ``"django-cache"``;
- ``old``: ``django-celery-results==2.6.0``, through the same names;
- ``limit``: no backend at all: the same row upserted and selected through the bare driver
  (sqlite3, psycopg, MySQLdb) in autocommit, the fastest any ORM-based backend could be;
- ``django``: the limit's SQL and parameters sent through Django's own cursor instead
  (``connections["default"].cursor()``): what any backend pays for using Django's connection.

Scenarios only use Celery's public API (``app.backend.store_result``,
``get_task_meta(cache=False)``, ``GroupResult.join_native``/``join``, ``apply_chord`` and each
header part's ``mark_as_done``, as a worker calls it), and import nothing from either package
(Celery resolves the backend by name), so both packages do exactly the same work.

Each timed scenario runs ``Scale.repeats`` times; the JSON output holds every run, and the suite
reports medians and spreads. Round trips are counted in a separate untimed pass: SQL statements
through ``connection.execute_wrapper`` plus the transaction control Django sends through the
driver (begin, commit, rollback), cache commands by wrapping the cache client (Redis: each packed
send; Memcached: each command exchange; local memory: each top-level cache call).

``tests/integration/test_benchmarks_smoke.py`` imports this module and runs a few scenarios
in-process against our backend, pinning their round-trip counts.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import importlib
import importlib.metadata
import json
import multiprocessing
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from celery import Celery, Task, states
from celery.app.task import Context
from celery.result import AsyncResult, GroupResult

CALLBACK_TASK = "bench.collect"
STAMP_TASK = "bench.stamp"

#: ``TaskResult`` columns, the order the limit writes them in.
TASK_COLUMNS: tuple[str, ...] = (
    "task_id",
    "status",
    "content_type",
    "content_encoding",
    "result",
    "traceback",
    "meta",
    "task_name",
    "task_args",
    "task_kwargs",
    "worker",
    "periodic_task_name",
    "date_created",
    "date_started",
    "date_done",
)
TASK_TABLE = "django_celery_results_taskresult"

#: Scenario names, in report order.
ALL_SCENARIOS: tuple[str, ...] = (
    "store",
    "update",
    "get",
    "join",
    "chord",
    "chord_2proc",
    "cleanup",
    "worker",
)
#: What the bare-driver limit can do: it is a row, not a backend.
LIMIT_SCENARIOS: tuple[str, ...] = ("store", "update", "get")


# -- scale -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How much work each scenario does; the same for every implementation of a target.

    Attributes:
        repeats: timed runs of ``store``, ``update``, ``get``, ``join`` (the suite runs these
            scenarios in several interleaved passes of one repeat each).
        store: new results written per run of ``store``.
        update: results taken through STARTED then SUCCESS per run of ``update``.
        get: results read per run of ``get`` (cycling over ``get_distinct`` stored ones).
        join: members of the group joined by ``join``.
        chord: header parts of each chord.
        chord_runs: timed chords.
        twoproc_runs: chords whose parts return from two processes at once.
        cleanup_repeats: timed runs of ``cleanup``.
        cleanup_rows: expired rows deleted per run of ``cleanup``.
        cleanup_small_rows: a smaller backlog whose peak memory is compared with the large one.
        cleanup_keep: fresh rows that cleanup must leave alone.
        worker_samples: tasks timed through a real worker.
        count_ops: operations in the untimed round-trip counting pass.
    """

    repeats: int
    store: int
    update: int
    get: int
    join: int
    chord: int
    chord_runs: int
    twoproc_runs: int
    cleanup_repeats: int
    cleanup_rows: int
    cleanup_small_rows: int
    cleanup_keep: int
    worker_samples: int
    get_distinct: int = 200
    count_ops: int = 20

    def for_vendor(self, vendor: str) -> Scale:
        """This scale with fewer writes where every commit waits for the disk.

        Each autocommitted write on SQLite waits for an fsync (about 5 ms on this kind of
        machine) and MariaDB flushes its redo log per commit; the write scenarios shrink there
        so a full run stays within its time budget. Reads are not scaled.
        """
        factor = {"sqlite": 0.15, "mysql": 0.5}.get(vendor, 1.0)
        return replace(
            self,
            store=max(50, int(self.store * factor)),
            update=max(50, int(self.update * factor)),
        )


FULL = Scale(
    repeats=5,
    store=2000,
    update=1000,
    get=2000,
    join=500,
    chord=200,
    chord_runs=5,
    twoproc_runs=20,
    cleanup_repeats=5,
    cleanup_rows=100_000,
    cleanup_small_rows=10_000,
    cleanup_keep=1000,
    worker_samples=30,
)
QUICK = Scale(
    repeats=3,
    store=200,
    update=100,
    get=200,
    join=500,
    chord=200,
    chord_runs=2,
    twoproc_runs=3,
    cleanup_repeats=2,
    cleanup_rows=10_000,
    cleanup_small_rows=1000,
    cleanup_keep=100,
    worker_samples=3,
)


# -- what a scenario runs against --------------------------------------------------------------


@dataclass
class Bench:
    """What the scenarios run against.

    Attributes:
        app: the Celery app whose backend is measured (see ``make_app``).
        impl: ``"ours"``, ``"old"`` or ``"limit"``.
        kind: ``"db"`` or ``"cache"``.
        vendor: ``sqlite``, ``postgresql``, ``mysql``, ``locmem``, ``redis`` or ``memcached``.
        scale: how much work to do (already adjusted for the vendor).
        alias: the Django database alias the backend writes to (db targets).
        tag: a prefix that keeps this run's ids apart from any other run's.
        driver: the bare-driver limit (``impl == "limit"`` only).
        worker_config: what a worker subprocess needs (the CLI's config); None skips ``worker``.
        profiler: profiles the timed regions when set (the suite's ``--profile`` pass).
    """

    app: Celery
    impl: str
    kind: str
    vendor: str
    scale: Scale
    alias: str = "default"
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    driver: DriverLimit | None = None
    worker_config: dict[str, Any] | None = None
    profiler: cProfile.Profile | None = None


class _CapturedCallback(Task):  # type: ignore[type-arg]
    """The chord callback: each send is recorded in this process instead of published."""

    def apply_async(  # type: ignore[override]
        self, args: Sequence[Any] | None = None, kwargs: Any = None, **options: Any
    ) -> AsyncResult[Any]:
        """Record the call (the header's joined values) and return its would-be result."""
        CAPTURED_CALLBACKS.append(tuple(args or ()))
        return self.AsyncResult(options.get("task_id") or str(uuid.uuid4()))


#: Argument tuples of the chord callbacks sent in this process.
CAPTURED_CALLBACKS: list[tuple[Any, ...]] = []
#: (args, kwargs) of the ``celery.chord_unlock`` tasks sent in this process.
CAPTURED_UNLOCKS: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


def make_app(
    backend: str,
    *,
    broker_url: str = "memory://",
    queue: str = "dcr-bench",
    capture: bool = True,
    set_as_current: bool = False,
    result_expires: timedelta = timedelta(days=1),
) -> Celery:
    """A Celery app with the benchmark tasks, whose results go to ``backend`` (by name).

    With ``capture``, chord callbacks and ``celery.chord_unlock`` tasks are recorded in this
    process (``CAPTURED_CALLBACKS``, ``CAPTURED_UNLOCKS``) instead of being published.
    """
    app = Celery(f"dcr_bench_{uuid.uuid4().hex[:6]}", set_as_current=set_as_current)
    app.conf.update(
        broker_url=broker_url,
        result_backend=backend,
        cache_backend="default",
        result_expires=result_expires,
        result_chord_join_timeout=60,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )

    @app.task(name=CALLBACK_TASK, base=_CapturedCallback, shared=False)
    def collect(values: list[Any]) -> list[Any]:
        """The chord body (never run: its sends are captured)."""
        return values

    @app.task(name=STAMP_TASK, shared=False)
    def stamp(delay: float) -> float:
        """Sleep ``delay`` seconds, then return the wall-clock time the task ended at."""
        time.sleep(delay)
        return time.time()

    if capture:
        unlock = app.tasks["celery.chord_unlock"]

        def capture_unlock(
            args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None, **_: Any
        ) -> AsyncResult[Any]:
            CAPTURED_UNLOCKS.append((tuple(args or ()), dict(kwargs or {})))
            return app.AsyncResult(str(uuid.uuid4()))

        # Backends without an atomic counter send Celery's polling unlock task at apply_chord;
        # it is recorded here and run once, eagerly, after the last part has returned.
        setattr(unlock, "apply_async", capture_unlock)  # noqa: B010 - instance override
    return app


# -- the bare-driver limit ---------------------------------------------------------------------


class DriverLimit:
    """The same row as the backend writes, upserted and read through the bare driver.

    One parameterised ``INSERT ... ON CONFLICT DO UPDATE`` (``ON DUPLICATE KEY UPDATE`` on
    MariaDB) per write and one ``SELECT`` per read, in autocommit, on the table the package's
    migrations made: no ORM, no serializer, no state policy. With ``via_django`` the same
    statements and parameters go through a Django cursor of the ``default`` alias instead, a
    new one per statement as the ORM (and our repositories) open them: Django's cursor
    wrapper, and on PostgreSQL its client-side-binding ``ClientCursor``.
    """

    def __init__(self, vendor: str, database: dict[str, Any], *, via_django: bool = False) -> None:
        self.vendor = vendor
        self.via_django = via_django
        self.counter: RoundTrips | None = None
        self.connection: Any
        placeholder = "%s"
        if via_django:
            from django.db import connections

            self.connection = connections["default"]
        elif vendor == "sqlite":
            import sqlite3

            placeholder = "?"
            self.connection = sqlite3.connect(
                database["NAME"], isolation_level=None, check_same_thread=False
            )
        elif vendor == "postgresql":
            import psycopg

            self.connection = psycopg.connect(
                host=database["HOST"],
                port=database["PORT"],
                user=database["USER"],
                password=database.get("PASSWORD") or None,
                dbname=database["NAME"],
                autocommit=True,
            )
        elif vendor == "mysql":
            import MySQLdb

            self.connection = MySQLdb.connect(
                host=database["HOST"],
                port=int(database["PORT"]),
                user=database["USER"],
                password=database.get("PASSWORD", ""),
                database=database["NAME"],
                charset="utf8mb4",
                autocommit=True,
            )
        else:
            raise ValueError(f"no bare-driver limit for {vendor}")
        # The bare driver keeps one cursor; Django's path opens one per statement.
        self.cursor: Any = None if via_django else self.connection.cursor()
        columns = ", ".join(TASK_COLUMNS)
        values = ", ".join([placeholder] * len(TASK_COLUMNS))
        replaced = [c for c in TASK_COLUMNS if c not in ("task_id", "date_created")]
        insert = f"INSERT INTO {TASK_TABLE} ({columns}) VALUES ({values})"
        if vendor == "mysql":
            assignments = ", ".join(f"{c} = VALUES({c})" for c in replaced)
            self.upsert_sql = f"{insert} ON DUPLICATE KEY UPDATE {assignments}"
        else:
            assignments = ", ".join(f"{c} = excluded.{c}" for c in replaced)
            self.upsert_sql = f"{insert} ON CONFLICT (task_id) DO UPDATE SET {assignments}"
        self.select_sql = f"SELECT {columns} FROM {TASK_TABLE} WHERE task_id = {placeholder}"
        self._result_index = TASK_COLUMNS.index("result")

    def _date(self, value: datetime | None) -> Any:
        # What Django stores with USE_TZ: text for SQLite, naive UTC for MySQL, aware for PG.
        if value is None or self.vendor == "postgresql":
            return value
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
        return naive.isoformat(" ") if self.vendor == "sqlite" else naive

    def upsert(self, task_id: str, value: Any, state: str) -> None:
        """Write the row of ``task_id`` (insert or replace) in one statement."""
        now = datetime.now(timezone.utc)
        params = (
            task_id,
            state,
            "application/json",
            "utf-8",
            json.dumps(value),
            None,
            json.dumps({"children": []}),
            None,
            None,
            None,
            None,
            None,
            self._date(now),
            self._date(now if state == states.STARTED else None),
            self._date(now),
        )
        self._execute(self.upsert_sql, params, fetch=False)

    def select(self, task_id: str) -> Any:
        """The stored result of ``task_id`` (decoded), or None; one ``SELECT``."""
        row = self._execute(self.select_sql, (task_id,), fetch=True)
        return None if row is None else json.loads(row[self._result_index])

    def _execute(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        if self.counter is not None:
            self.counter.count += 1
        if not self.via_django:
            self.cursor.execute(sql, params)
            return self.cursor.fetchone() if fetch else None
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if fetch else None

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


# -- round trips -------------------------------------------------------------------------------


class RoundTrips:
    """A running count of round trips to the store."""

    def __init__(self) -> None:
        self.count = 0

    def take(self) -> int:
        """The count since the last ``take``."""
        count, self.count = self.count, 0
        return count


#: Django cache methods counted on the local-memory cache (each is one "command" there).
_CACHE_METHODS = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "has_key",
    "incr",
    "decr",
    "get_many",
    "set_many",
    "delete_many",
    "get_or_set",
)


@contextlib.contextmanager
def _patched(targets: Sequence[tuple[type, str]], counter: RoundTrips) -> Iterator[None]:
    """Count calls of ``targets`` (class, method), outermost calls only, while the block runs."""
    depth = threading.local()
    saved: list[tuple[type, str, Any]] = []

    def counted(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            if level == 0:
                counter.count += 1
            depth.level = level + 1
            try:
                return original(*args, **kwargs)
            finally:
                depth.level = level

        return wrapper

    for cls, name in targets:
        saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, counted(getattr(cls, name)))
    try:
        yield
    finally:
        for cls, name, original in reversed(saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


@contextlib.contextmanager
def _statements_counted(alias: str, counter: RoundTrips) -> Iterator[None]:
    """Count statements, and the transaction control Django sends outside ``execute``.

    Statements go through ``execute_wrapper``. Starting a transaction
    (``set_autocommit(False)``: the driver's ``BEGIN`` or ``SET autocommit=0``), ``commit()``
    and ``rollback()`` reach the server through the driver's own calls, so they are counted
    by wrapping those methods of this thread's connection. (SQLite's ``BEGIN`` is a statement.)
    """
    from django.db import connections

    connection = connections[alias]

    def statement(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        counter.count += 1
        return execute(sql, params, many, context)

    def control(name: str) -> Callable[..., Any]:
        original = getattr(connection, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name != "set_autocommit" or not (args[0] if args else kwargs["autocommit"]):
                counter.count += 1
            return original(*args, **kwargs)

        return wrapper

    names = ("commit", "rollback", "set_autocommit")
    for name in names:
        setattr(connection, name, control(name))
    try:
        with connection.execute_wrapper(statement):
            yield
    finally:
        for name in names:
            delattr(connection, name)


@contextlib.contextmanager
def counting(bench: Bench) -> Iterator[RoundTrips]:
    """Count the round trips ``bench``'s store sees while the block runs (this thread)."""
    counter = RoundTrips()
    if bench.driver is not None:
        bench.driver.counter = counter
        try:
            yield counter
        finally:
            bench.driver.counter = None
        return
    if bench.kind == "db":
        with _statements_counted(bench.alias, counter):
            yield counter
        return
    targets: list[tuple[type, str]]
    if bench.vendor == "redis":
        from redis.connection import AbstractConnection

        # One packed send per command, or per pipeline (its commands travel together).
        targets = [(AbstractConnection, "send_packed_command")]
    elif bench.vendor == "memcached":
        from pymemcache.client.base import Client  # type: ignore[import-untyped]

        targets = [(Client, name) for name in ("_fetch_cmd", "_store_cmd", "_misc_cmd")]
    else:
        from django.core.cache.backends.locmem import LocMemCache

        targets = [(LocMemCache, name) for name in _CACHE_METHODS]
    with _patched(targets, counter):
        yield counter


def _counts(values: Sequence[int]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values) if values else 0.0,
        "min": min(values, default=0),
        "max": max(values, default=0),
        "ops": len(values),
    }


@contextlib.contextmanager
def _timed(
    bench: Bench, sink: list[float], per: int = 1, *, profiled: bool = True
) -> Iterator[None]:
    """Append the block's wall time divided by ``per`` to ``sink``.

    With ``profiled`` (the default) the block is also profiled when ``bench.profiler`` is set.
    """
    gc.collect()
    profiler = bench.profiler if profiled else None
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        sink.append(elapsed / per)


def _result(
    runs: Sequence[float], unit: str, round_trips: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "status": "ok",
        "unit": unit,
        "runs": list(runs),
        "median": statistics.median(runs) if runs else None,
        "round_trips": round_trips,
        **extra,
    }


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


# -- primitives --------------------------------------------------------------------------------


def _id(bench: Bench, label: str, index: int) -> str:
    return f"{bench.tag}-{label}-{index}"


def _value(index: int) -> dict[str, Any]:
    return {"n": index, "text": "result"}


def _store(bench: Bench, task_id: str, value: Any, state: str) -> None:
    if bench.driver is not None:
        bench.driver.upsert(task_id, value, state)
        return
    backend: Any = bench.app.backend
    backend.store_result(task_id, value, state)


def _get(bench: Bench, task_id: str) -> Any:
    if bench.driver is not None:
        return bench.driver.select(task_id)
    backend: Any = bench.app.backend
    return backend.get_task_meta(task_id, cache=False)["result"]


def _prime(bench: Bench) -> None:
    """One read, so connecting (and its set-up statements) is not counted as a round trip."""
    _get(bench, f"{bench.tag}-prime")


# -- store, update, get ------------------------------------------------------------------------


def scenario_store(bench: Bench) -> dict[str, Any]:
    """Store ``scale.store`` new SUCCESS results, one ``store_result`` each."""
    n = bench.scale.store
    _prime(bench)
    counts = []
    with counting(bench) as trips:
        for i in range(bench.scale.count_ops):
            _store(bench, _id(bench, "store-count", i), _value(i), states.SUCCESS)
            counts.append(trips.take())
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        ids = [_id(bench, f"store-{run}", i) for i in range(n)]
        with _timed(bench, runs, per=n):
            for i, task_id in enumerate(ids):
                _store(bench, task_id, _value(i), states.SUCCESS)
        if _get(bench, ids[-1]) != _value(n - 1):
            raise AssertionError(f"store: {ids[-1]} does not read back")
    return _result(runs, "s/op", _counts(counts), ops=n)


def scenario_update(bench: Bench) -> dict[str, Any]:
    """Take ``scale.update`` results through STARTED then SUCCESS; the SUCCESS write is timed.

    The STARTED write (the row's first) is timed separately and reported as ``started``.
    """
    n = bench.scale.update
    started_value = {"pid": 4242, "hostname": "bench@host"}
    _prime(bench)
    started_counts, success_counts = [], []
    with counting(bench) as trips:
        for i in range(bench.scale.count_ops):
            task_id = _id(bench, "update-count", i)
            _store(bench, task_id, started_value, states.STARTED)
            started_counts.append(trips.take())
            _store(bench, task_id, _value(i), states.SUCCESS)
            success_counts.append(trips.take())
    started_runs: list[float] = []
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        ids = [_id(bench, f"update-{run}", i) for i in range(n)]
        with _timed(bench, started_runs, per=n, profiled=False):
            for task_id in ids:
                _store(bench, task_id, started_value, states.STARTED)
        with _timed(bench, runs, per=n):
            for i, task_id in enumerate(ids):
                _store(bench, task_id, _value(i), states.SUCCESS)
        if _get(bench, ids[-1]) != _value(n - 1):
            raise AssertionError(f"update: {ids[-1]} does not read back")
    return _result(
        runs,
        "s/op",
        _counts(success_counts),
        ops=n,
        started={
            "runs": started_runs,
            "median": statistics.median(started_runs),
            "round_trips": _counts(started_counts),
        },
    )


def _setup_block(bench: Bench) -> contextlib.AbstractContextManager[Any]:
    """Untimed set-up writes in one transaction (one commit, not one per row) on a database."""
    if bench.kind != "db" or bench.driver is not None:
        return contextlib.nullcontext()
    from django.db import transaction

    return transaction.atomic(using=bench.alias)


def scenario_get(bench: Bench) -> dict[str, Any]:
    """Read ``scale.get`` stored results, uncached (``get_task_meta(cache=False)``).

    The reads cycle over ``scale.get_distinct`` results stored beforehand.
    """
    n = bench.scale.get
    distinct = [_id(bench, "get", i) for i in range(min(n, bench.scale.get_distinct))]
    with _setup_block(bench):
        for i, task_id in enumerate(distinct):
            _store(bench, task_id, _value(i), states.SUCCESS)
    ids = [distinct[i % len(distinct)] for i in range(n)]
    _prime(bench)
    counts = []
    with counting(bench) as trips:
        for task_id in ids[: bench.scale.count_ops]:
            _get(bench, task_id)
            counts.append(trips.take())
    runs: list[float] = []
    for _ in range(bench.scale.repeats):
        with _timed(bench, runs, per=n):
            for task_id in ids:
                _get(bench, task_id)
    for i in (0, len(distinct) - 1):
        if _get(bench, distinct[i]) != _value(i):
            raise AssertionError(f"get: {distinct[i]} does not read back")
    return _result(runs, "s/op", _counts(counts), ops=n)


# -- join --------------------------------------------------------------------------------------


def _stored_group(bench: Bench, label: str, size: int) -> GroupResult:
    backend: Any = bench.app.backend
    ids = [_id(bench, label, i) for i in range(size)]
    with _setup_block(bench):
        for i, task_id in enumerate(ids):
            backend.store_result(task_id, i, states.SUCCESS)
    # Fresh AsyncResult objects: nothing cached on them.
    return bench.app.GroupResult(
        f"{bench.tag}-{label}", [bench.app.AsyncResult(task_id) for task_id in ids]
    )


def _join(group: GroupResult) -> list[Any]:
    # What Celery itself does (e.g. the chord unlock): native when the backend supports it.
    join = group.join_native if group.supports_native_join else group.join
    values: list[Any] = join(timeout=60, propagate=True)
    return values


def scenario_join(bench: Bench) -> dict[str, Any]:
    """Join a group of ``scale.join`` stored results."""
    size = bench.scale.join
    _prime(bench)
    group = _stored_group(bench, "join-count", size)
    with counting(bench) as trips:
        values = _join(group)
        count = trips.take()
    native = bool(group.supports_native_join)
    runs: list[float] = []
    for run in range(bench.scale.repeats):
        group = _stored_group(bench, f"join-{run}", size)
        with _timed(bench, runs):
            values = _join(group)
        if values != list(range(size)):
            raise AssertionError("join: wrong values")
    return _result(runs, "s/join", _counts([count]), size=size, native=native)


# -- chords ------------------------------------------------------------------------------------


@dataclass
class _Chord:
    """One chord's header and body, and the requests its parts return with."""

    group_id: str
    body: Any
    header: list[AsyncResult[Any]]
    requests: list[Context]


def _new_chord(bench: Bench, size: int) -> _Chord:
    app = bench.app
    group_id = f"{bench.tag}-chord-{uuid.uuid4().hex[:12]}"
    body = app.signature(CALLBACK_TASK)
    body.freeze(f"{group_id}-body")
    ids = [f"{group_id}-part-{i}" for i in range(size)]
    requests = [
        Context(
            id=task_id,
            group=group_id,
            group_index=i,
            chord=dict(body),
            task="bench.part",
            hostname="bench@host",
            delivery_info={},
        )
        for i, task_id in enumerate(ids)
    ]
    return _Chord(group_id, body, [app.AsyncResult(task_id) for task_id in ids], requests)


def _apply_chord(bench: Bench, chord: _Chord) -> None:
    backend: Any = bench.app.backend
    # The arguments Celery's chord.run passes: (group id, header results), the body, options.
    backend.apply_chord(
        (chord.group_id, chord.header), chord.body, interval=1, countdown=1, max_retries=None
    )


def _return_part(bench: Bench, request: Context) -> None:
    """What a worker does when a header part succeeds: Celery's trace calls ``mark_as_done``.

    Celery's own ``mark_as_done`` stores the result (``store_result``), then counts the part
    (``on_chord_part_return``); a backend may override it to do both at once.
    """
    backend: Any = bench.app.backend
    backend.mark_as_done(request.id, request.group_index, request=request)


def _run_unlocks(bench: Bench) -> list[str]:
    """Run each captured ``celery.chord_unlock`` once, eagerly; return their errors."""
    errors = []
    unlock = bench.app.tasks["celery.chord_unlock"]
    while CAPTURED_UNLOCKS:
        args, kwargs = CAPTURED_UNLOCKS.pop(0)
        outcome = unlock.apply(args=args, kwargs=kwargs)
        if outcome.failed():
            errors.append(repr(outcome.result))
    return errors


def _fired(size: int, callbacks: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    expected = list(range(size))
    return {
        "callbacks": len(callbacks),
        "complete": sum(1 for args in callbacks if args and list(args[0]) == expected),
    }


def _chord_steps(bench: Bench, size: int) -> tuple[list[Callable[[], Any]], Callable[[], Any]]:
    """The steps of one chord (apply, each part, then any unlock) and its outcome."""
    chord = _new_chord(bench, size)
    errors: list[str] = []

    def start() -> None:
        CAPTURED_CALLBACKS.clear()
        CAPTURED_UNLOCKS.clear()
        _apply_chord(bench, chord)

    def part(request: Context) -> Callable[[], None]:
        return lambda: _return_part(bench, request)

    unlocks: list[int] = []

    def finish() -> None:
        unlocks.append(len(CAPTURED_UNLOCKS))
        errors.extend(_run_unlocks(bench))

    def outcome() -> dict[str, Any]:
        return {
            **_fired(size, CAPTURED_CALLBACKS),
            "unlock_tasks": sum(unlocks),
            "errors": errors,
        }

    return [start, *(part(r) for r in chord.requests), finish], outcome


def _count_chord(bench: Bench, size: int) -> dict[str, Any]:
    steps, outcome = _chord_steps(bench, size)
    counts = []
    with counting(bench) as trips:
        for step in steps:
            step()
            counts.append(trips.take())
    parts = counts[1:-1]
    return {
        "size": size,
        "apply_chord": counts[0],
        "part": _counts(parts[:-1]),
        "last_part": parts[-1],
        "unlock": counts[-1],
        "total": sum(counts),
        "outcome": outcome(),
    }


def scenario_chord(bench: Bench) -> dict[str, Any]:
    """A chord of ``scale.chord`` parts: apply_chord, then each part's store and return.

    The callback is captured and must fire once with every part's result. Round trips are
    counted for this size and half of it, to show which ones depend on the size.
    """
    size = bench.scale.chord
    _prime(bench)
    counted = _count_chord(bench, size)
    half = _count_chord(bench, max(2, size // 2))
    runs: list[float] = []
    outcomes = []
    for _ in range(bench.scale.chord_runs):
        steps, outcome = _chord_steps(bench, size)
        with _timed(bench, runs):
            for step in steps:
                step()
        outcomes.append(outcome())
    good = sum(1 for o in [counted["outcome"], *outcomes] if o["callbacks"] == o["complete"] == 1)
    return _result(
        runs,
        "s/chord",
        counted,
        size=size,
        round_trips_half=half,
        outcomes=outcomes,
        fired_once=good,
        chords=len(outcomes) + 1,
    )


def _release_connections(bench: Bench) -> None:
    """Close this process's database and cache connections (before a fork)."""
    from django.core.cache import caches
    from django.db import connections

    connections.close_all()
    for cache in caches.all(initialized_only=True):
        cache.close()


def _error_of(call: Callable[..., Any], *args: Any) -> str | None:
    """Run ``call``; return its exception as text (every failure is reported, not raised)."""
    try:
        call(*args)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def _twoproc_child(bench: Bench, requests: list[Context], barrier: Any, queue: Any) -> None:
    CAPTURED_CALLBACKS.clear()
    errors: list[str] = []
    barrier.wait(timeout=120)
    started = time.monotonic()
    for request in requests:
        error = _error_of(_return_part, bench, request)
        if error:
            errors.append(error)
    ended = time.monotonic()
    queue.put(
        {
            "callbacks": [list(args[0]) if args else None for args in CAPTURED_CALLBACKS],
            "errors": errors,
            "started": started,
            "ended": ended,
        }
    )
    _release_connections(bench)


def scenario_chord_2proc(bench: Bench) -> dict[str, Any]:
    """Chords whose parts return from two processes at once (interleaved halves).

    Each run forks two processes that wait on a barrier, then return their parts as fast as
    they can. Correctness is the point: how many runs fired the callback exactly once, how
    many lost it or fired it twice, and the errors the parts raised.
    """
    if bench.vendor == "locmem":
        return _skipped("a local-memory cache is private to each process")
    size = bench.scale.chord
    context = multiprocessing.get_context("fork")
    runs: list[float] = []
    outcomes = []
    for _ in range(bench.scale.twoproc_runs):
        chord = _new_chord(bench, size)
        CAPTURED_CALLBACKS.clear()
        CAPTURED_UNLOCKS.clear()
        _apply_chord(bench, chord)
        _release_connections(bench)
        barrier = context.Barrier(2)
        queue = context.SimpleQueue()
        children = [
            context.Process(
                target=_twoproc_child, args=(bench, chord.requests[k::2], barrier, queue)
            )
            for k in (0, 1)
        ]
        for child in children:
            child.start()
        reports = [queue.get() for _ in children]
        for child in children:
            child.join(timeout=60)
        unlock_errors = _run_unlocks(bench)
        callbacks = [(values,) for report in reports for values in report["callbacks"]]
        callbacks += CAPTURED_CALLBACKS
        runs.append(max(r["ended"] for r in reports) - min(r["started"] for r in reports))
        outcomes.append(
            {
                **_fired(size, callbacks),
                "errors": [e for r in reports for e in r["errors"]] + unlock_errors,
            }
        )
    once = sum(1 for o in outcomes if o["callbacks"] == o["complete"] == 1)
    return _result(
        runs,
        "s/chord",
        {},
        size=size,
        fired_once=once,
        lost=sum(1 for o in outcomes if o["callbacks"] == 0),
        duplicated=sum(1 for o in outcomes if o["callbacks"] > 1),
        errors=sum(len(o["errors"]) for o in outcomes),
        first_error=next((o["errors"][0] for o in outcomes if o["errors"]), None),
        chords=len(outcomes),
    )


# -- cleanup -----------------------------------------------------------------------------------


def _task_table(bench: Bench) -> tuple[Any, str]:
    from django.apps import apps
    from django.db import connections

    model = apps.get_model("django_celery_results", "TaskResult")
    connection = connections[bench.alias]
    return connection, connection.ops.quote_name(model._meta.db_table)


def _seed(bench: Bench, prefix: str, rows: int, done: datetime) -> None:
    """Insert ``rows`` SUCCESS rows finished at ``done``, generated inside the database."""
    from django.apps import apps

    model = apps.get_model("django_celery_results", "TaskResult")
    connection, table = _task_table(bench)
    quote = connection.ops.quote_name
    names = ("task_id", "status", "content_type", "content_encoding", "result", "meta")
    columns = [*names, "date_created", "date_done"]
    fields = {f.name: f for f in model._meta.concrete_fields}
    column_sql = ", ".join(quote(fields[name].column) for name in columns)
    date = fields["date_done"].get_db_prep_value(done, connection)
    constants = [states.SUCCESS, "application/json", "utf-8", '{"n": 1}', '{"children": []}']
    constants += [date, date]
    rest = ", ".join(["%s"] * len(constants))
    if connection.vendor == "postgresql":
        source = f"SELECT CONCAT(%s, g), {rest} FROM generate_series(1, %s) AS g"
        params: list[Any] = [prefix, *constants, rows]
    elif connection.vendor == "mysql":
        # MariaDB's sequence engine: a virtual table of the integers 1..rows.
        source = f"SELECT CONCAT(%s, seq), {rest} FROM seq_1_to_{int(rows)}"
        params = [prefix, *constants]
    else:
        source = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
            f"SELECT %s || n, {rest} FROM g"
        )
        params = [rows, prefix, *constants]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({column_sql}) {source}", params)


def _row_count(bench: Bench) -> int:
    connection, table = _task_table(bench)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        row = cursor.fetchone()
    return int(row[0])


def _empty_tables(bench: Bench) -> None:
    from django.apps import apps
    from django.db import connections

    connection = connections[bench.alias]
    with connection.cursor() as cursor:
        for model in apps.get_app_config("django_celery_results").get_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def _seed_backlog(bench: Bench, rows: int) -> None:
    _empty_tables(bench)
    now = datetime.now(timezone.utc)
    _seed(bench, f"{bench.tag}-expired-", rows, now - timedelta(days=2))
    _seed(bench, f"{bench.tag}-fresh-", bench.scale.cleanup_keep, now)


def _check_cleaned(bench: Bench) -> None:
    left = _row_count(bench)
    if left != bench.scale.cleanup_keep:
        raise AssertionError(f"cleanup left {left} rows, expected {bench.scale.cleanup_keep}")


def _rss_kib(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak is this call's own.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cleanup_memory(bench: Bench, rows: int) -> dict[str, Any]:
    """Peak memory (Python heap by tracemalloc, and RSS growth) and statements of one cleanup."""
    backend: Any = bench.app.backend
    _seed_backlog(bench, rows)
    gc.collect()
    rss_before = _rss_kib("VmRSS")
    rss_reset = _reset_peak_rss()
    tracemalloc.start()
    with counting(bench) as trips:
        backend.cleanup()
        statements = trips.take()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _rss_kib("VmHWM")
    _check_cleaned(bench)
    growth = (hwm - rss_before) * 1024 if rss_reset and hwm and rss_before else None
    return {
        "rows": rows,
        "peak_python_bytes": peak,
        "rss_growth_bytes": growth,
        "statements": statements,
    }


def scenario_cleanup(bench: Bench, rows: int | None = None) -> dict[str, Any]:
    """Delete ``scale.cleanup_rows`` expired rows (and keep the fresh ones): ``backend.cleanup``.

    Times are per cleanup call. Memory is measured in separate passes (tracemalloc slows
    Python down), at this backlog and at ``scale.cleanup_small_rows``, to show whether the
    peak grows with the number of rows.
    """
    if bench.kind != "db":
        return _skipped("a cache expires its keys itself")
    rows = rows or bench.scale.cleanup_rows
    backend: Any = bench.app.backend
    runs: list[float] = []
    for _ in range(bench.scale.cleanup_repeats if rows == bench.scale.cleanup_rows else 1):
        _seed_backlog(bench, rows)
        with _timed(bench, runs):
            backend.cleanup()
        _check_cleaned(bench)
    memory = [_cleanup_memory(bench, rows)]
    if rows == bench.scale.cleanup_rows:
        memory.insert(0, _cleanup_memory(bench, bench.scale.cleanup_small_rows))
    _empty_tables(bench)
    return _result(
        runs, "s/cleanup", {"per_cleanup": memory[-1]["statements"]}, rows=rows, memory=memory
    )


# -- a real worker -----------------------------------------------------------------------------


def scenario_worker(bench: Bench) -> dict[str, Any]:
    """Latency from a task's end to ``AsyncResult.get()`` returning, with a real worker.

    The worker is a subprocess (prefork pool, 2 processes) on RabbitMQ, running this same
    script. Each task sleeps a random 50-300 ms (so the client's polls fall at random
    phases) and returns the time it ended; the client's ``get()`` uses Celery's defaults.
    """
    config = bench.worker_config
    if not config or not config.get("broker_url"):
        return _skipped("no broker configured")
    if bench.vendor == "locmem":
        return _skipped("a local-memory cache is private to each process")
    queue = f"dcr-bench-{bench.tag}"
    client = make_app(
        config["backend"],
        broker_url=config["broker_url"],
        queue=queue,
        capture=False,
        result_expires=bench.app.conf.result_expires,
    )
    with tempfile.TemporaryDirectory(prefix="dcr-bench-worker-") as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        log_path = Path(tmp, "worker.log")
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "worker",
                    "--config",
                    str(config_path),
                    "--queue",
                    queue,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            latencies, counts = _sample_latencies(bench, client, queue)
        except Exception as exc:
            raise RuntimeError(f"{exc}\n--- worker log\n{log_path.read_text()[-3000:]}") from exc
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            with contextlib.suppress(Exception), client.connection_for_write() as conn:
                channel: Any = conn.default_channel
                channel.queue_delete(queue)
    return _result(latencies, "s/get", _counts(counts), samples=len(latencies))


def _sample_latencies(bench: Bench, client: Celery, queue: str) -> tuple[list[float], list[int]]:
    rng = random.Random(42)
    # The first task waits for the worker to start.
    client.send_task(STAMP_TASK, args=[0.0], queue=queue).get(timeout=180)
    latencies: list[float] = []
    counts: list[int] = []
    for _ in range(bench.scale.worker_samples):
        result = client.send_task(STAMP_TASK, args=[rng.uniform(0.05, 0.3)], queue=queue)
        with counting(bench) as trips:
            ended = float(result.get(timeout=60))
            returned = time.time()
            counts.append(trips.take())
        latencies.append(returned - ended)
    return latencies, counts


# -- running -----------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "store": scenario_store,
    "update": scenario_update,
    "get": scenario_get,
    "join": scenario_join,
    "chord": scenario_chord,
    "chord_2proc": scenario_chord_2proc,
    "cleanup": scenario_cleanup,
    "worker": scenario_worker,
}


def _say(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def run_scenarios(
    bench: Bench, names: Sequence[str], *, cleanup_big: int | None = None
) -> dict[str, dict[str, Any]]:
    """Run ``names`` against ``bench``; a failing scenario is reported, not raised."""
    results: dict[str, dict[str, Any]] = {}
    label = f"[{bench.impl} {bench.vendor}]"
    for name in names:
        if bench.driver is not None and name not in LIMIT_SCENARIOS:
            continue
        started = time.monotonic()
        try:
            results[name] = SCENARIOS[name](bench)
        except Exception:
            results[name] = {"status": "failed", "error": traceback.format_exc()[-4000:]}
        _say(f"{label} {name}: {_summary(results[name])} ({time.monotonic() - started:.0f} s)")
    if cleanup_big and bench.kind == "db" and bench.driver is None:
        started = time.monotonic()
        try:
            results["cleanup_big"] = scenario_cleanup(bench, rows=cleanup_big)
        except Exception:
            results["cleanup_big"] = {"status": "failed", "error": traceback.format_exc()[-4000:]}
        _say(
            f"{label} cleanup_big: {_summary(results['cleanup_big'])} "
            f"({time.monotonic() - started:.0f} s)"
        )
    return results


def _summary(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('reason') or result.get('error', '')[-300:]}"
    median = result["median"]
    return f"median {median * 1000:.3f} ms ({result['unit']})" if median is not None else "ok"


def versions() -> dict[str, str | None]:
    """Versions of Python, Django, Celery, the package under test and the drivers here."""
    import sqlite3

    def version(distribution: str) -> str | None:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "django": version("django"),
        "celery": version("celery"),
        "kombu": version("kombu"),
        "package": version("celery-results-django") or version("django-celery-results"),
        "package_name": (
            "celery-results-django" if version("celery-results-django") else "django-celery-results"
        ),
        "psycopg": version("psycopg"),
        "mysqlclient": version("mysqlclient"),
        "redis": version("redis"),
        "pymemcache": version("pymemcache"),
        "sqlite": sqlite3.sqlite_version,
    }


def cache_backend_available() -> str | None:
    """None when ``django_celery_results.backends`` offers ``CacheBackend``, else why not."""
    try:
        module = importlib.import_module("django_celery_results.backends")
    except ImportError as exc:  # pragma: no cover - the package itself is missing
        return f"django_celery_results.backends does not import: {exc}"
    if not hasattr(module, "CacheBackend"):
        return "django_celery_results.backends has no CacheBackend yet"
    return None


def profile_summary(profiler: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """Where the profiled time went: shares by area, and the costliest functions."""
    stats = pstats.Stats(profiler)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1e-12
    areas: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in table.items():
        area = _area(filename, name)
        areas[area] = areas.get(area, 0.0) + tottime
        rows.append((tottime, cumtime, calls, _where(filename, line, name), area))
    rows.sort(reverse=True)
    package = sorted((r for r in rows if r[4] == "results backend package"), key=lambda r: -r[1])
    return {
        "total_seconds": total,
        "io_seconds": areas.get("driver and I/O", 0.0),
        "areas": {k: v / total for k, v in sorted(areas.items(), key=lambda kv: -kv[1])},
        "top_tottime": [
            {"function": w, "tottime": t, "cumtime": c, "calls": n, "area": a}
            for t, c, n, w, a in rows[:top]
        ],
        "package_cumtime": [
            {"function": w, "tottime": t, "cumtime": c, "calls": n} for t, c, n, w, _ in package[:8]
        ],
    }


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    parts = Path(filename).parts
    for anchor in ("site-packages", "src", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor) :]
            break
    return f"{'/'.join(parts)}:{line}({name})"


def _area(filename: str, name: str) -> str:
    if "django_celery_results" in filename:
        return "results backend package"
    if "/django/" in filename:
        return "Django"
    if any(marker in filename for marker in ("/celery/", "/kombu/", "/billiard/", "/vine/")):
        return "Celery and kombu"
    text = f"{filename} {name}"
    drivers = ("psycopg", "MySQLdb", "sqlite3", "Cursor", "redis", "pymemcache", "socket")
    if any(marker in text for marker in drivers):
        return "driver and I/O"
    if "json" in text:
        return "json"
    if filename == "~":
        return "other built-ins"
    return "other Python"


# -- command line ------------------------------------------------------------------------------


def configure_django(config: dict[str, Any]) -> None:
    """Configure Django from the suite's config: one database, one cache, the results app."""
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="dcr-bench",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_celery_results",
        ],
        DATABASES={"default": config["database"]},
        CACHES={
            "default": config.get("cache")
            or {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def _expires(config: dict[str, Any]) -> timedelta:
    # Cache keys live half an hour (Memcached keys cannot be listed to clean them up);
    # database rows expire after Celery's default day.
    return timedelta(minutes=30) if config["kind"] == "cache" else timedelta(days=1)


def _run_command(config: dict[str, Any], out: Path) -> None:
    configure_django(config)
    impl, kind, vendor = config["impl"], config["kind"], config["vendor"]
    report: dict[str, Any] = {"config": config, "versions": versions(), "results": {}}
    scale = (QUICK if config.get("quick") else FULL).for_vendor(vendor)
    if config.get("repeats"):
        scale = replace(scale, repeats=config["repeats"], chord_runs=config["repeats"])
    names = config.get("scenarios") or list(ALL_SCENARIOS)
    if kind == "db":
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    if impl == "ours" and kind == "cache":
        missing = cache_backend_available()
        if missing:
            report["skipped"] = missing
            out.write_text(json.dumps(report, indent=1, default=str))
            _say(f"[{impl} {vendor}] skipped: {missing}")
            return
    app = make_app(config["backend"], set_as_current=True, result_expires=_expires(config))
    bench = Bench(
        app=app,
        impl=impl,
        kind=kind,
        vendor=vendor,
        scale=scale,
        driver=(
            DriverLimit(vendor, config["database"], via_django=impl == "django")
            if impl in ("limit", "django")
            else None
        ),
        worker_config=config,
    )
    if config.get("profile"):
        bench.profiler = cProfile.Profile()
        names = [config["profile"]]
    report["scale"] = scale.__dict__
    try:
        report["results"] = run_scenarios(bench, names, cleanup_big=config.get("cleanup_big"))
    finally:
        if bench.driver is not None:
            bench.driver.close()
        _purge_cache(config)
    if bench.profiler is not None:
        report["profile"] = profile_summary(bench.profiler)
    out.write_text(json.dumps(report, indent=1, default=str))


def _purge_cache(config: dict[str, Any]) -> None:
    """Remove this run's keys from Redis (Memcached's expire on their own)."""
    cache = config.get("cache") or {}
    if config["vendor"] != "redis" or not cache.get("KEY_PREFIX"):
        return
    import redis

    client = redis.Redis.from_url(cache["LOCATION"])
    for key in client.scan_iter(match=f"{cache['KEY_PREFIX']}:*", count=1000):
        client.delete(key)
    client.close()


def _worker_command(config: dict[str, Any], queue: str) -> None:
    configure_django(config)
    app = make_app(
        config["backend"],
        broker_url=config["broker_url"],
        queue=queue,
        capture=False,
        set_as_current=True,
        result_expires=_expires(config),
    )
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            f"--queues={queue}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={queue}@%h",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``run --config C --out O`` runs the scenarios; ``worker --config C --queue Q`` a worker."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the scenarios and write a JSON report")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    worker = commands.add_parser("worker", help="run the benchmark worker")
    worker.add_argument("--config", type=Path, required=True)
    worker.add_argument("--queue", required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    if args.command == "worker":
        _worker_command(config, args.queue)
    else:
        _run_command(config, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
