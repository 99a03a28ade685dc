"""The benchmark suite: the same scenarios against ours, the old package and the bare driver.

Run it with ``./benchmarks/run`` (which sets up ``.venv`` first); ``--help`` lists the options.

For each target (SQLite, PostgreSQL, MariaDB through ``django-db``; local memory, Redis,
Memcached through ``django-cache``) it makes scratch databases (one per implementation, dropped
at the end), then runs ``benchmarks.scenarios`` in a fresh process per implementation:

- ``ours`` with this venv's Python (the project installed editable);
- ``old`` with ``.venv-bench-old``, a venv holding ``django-celery-results==2.6.0`` and exactly
  the Django, Celery, kombu and driver versions installed here (built on first use);
- ``limit`` (databases only) with this venv's Python and no backend at all: the same row
  upserted and read by one statement through the bare driver;
- ``django`` (databases only): the limit's statements sent through Django's cursor instead,
  the floor for any backend that uses Django's connection.

The quick scenarios (store, update, get, join, chord) run in ``rounds`` interleaved passes of
one repeat each, alternating which implementation goes first, so that a machine getting slower
or faster during the run moves every implementation alike; the slow ones (two-process chords,
cleanup, the real worker) run once, with their own repeats. The figures are then compared
with issue 5's bar; for each target missed, both packages' timed regions are profiled with
cProfile and summarised. Everything is printed and written to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The package each implementation runs (``python -m benchmarks.scenarios``), from ``REPO``.
SCENARIOS = "benchmarks.scenarios"
OLD_PACKAGE = "django-celery-results==2.6.0"
OLD_VENV = REPO / ".venv-bench-old"
WORK = REPO / ".bench"

LIGHT = ("store", "update", "get", "join", "chord")
HEAVY = ("chord_2proc", "cleanup", "worker")
IMPLS = ("old", "ours", "limit", "django")
#: The implementations that are a row, not a backend (databases only, store/update/get).
ROW_IMPLS = ("limit", "django")

PG: dict[str, Any] = {
    "HOST": os.environ.get("TEST_PG_HOST", "127.0.0.1"),
    "PORT": int(os.environ.get("TEST_PG_PORT", "5432")),
    "USER": os.environ.get("TEST_PG_USER", "postgres"),
    "PASSWORD": os.environ.get("TEST_PG_PASSWORD", ""),
}
MARIADB: dict[str, Any] = {
    "HOST": os.environ.get("TEST_MARIADB_HOST", "127.0.0.1"),
    "PORT": int(os.environ.get("TEST_MARIADB_PORT", "3306")),
    "USER": os.environ.get("TEST_MARIADB_USER", "root"),
    "PASSWORD": os.environ.get("TEST_MARIADB_PASSWORD", ""),
}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MEMCACHED = os.environ.get("BENCH_MEMCACHED", "127.0.0.1:11211")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _say(message: str) -> None:
    sys.stderr.write(f"==> {datetime.now():%H:%M:%S} {message}\n")
    sys.stderr.flush()


# -- targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A store the backends are measured on."""

    key: str
    title: str
    kind: str  # "db" or "cache"
    vendor: str  # the vendor name benchmarks.scenarios knows

    @property
    def backend(self) -> str:
        """The Celery result backend name used on this target."""
        return "django-db" if self.kind == "db" else "django-cache"


TARGETS = (
    Target("sqlite", "SQLite (file)", "db", "sqlite"),
    Target("postgresql", "PostgreSQL", "db", "postgresql"),
    Target("mariadb", "MariaDB", "db", "mysql"),
    Target("locmem", "locmem cache", "cache", "locmem"),
    Target("redis", "Redis cache", "cache", "redis"),
    Target("memcached", "Memcached", "cache", "memcached"),
)


def _probe(target: Target) -> tuple[str | None, str | None]:
    """(reason it is unavailable or None, server version or None)."""
    try:
        if target.key == "postgresql":
            import psycopg

            with psycopg.connect(
                host=PG["HOST"],
                port=PG["PORT"],
                user=PG["USER"],
                password=PG["PASSWORD"] or None,
                dbname="postgres",
                connect_timeout=3,
            ) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                return None, f"PostgreSQL {row[0] if row else '?'}"
        if target.key == "mariadb":
            import MySQLdb

            conn = MySQLdb.connect(
                host=MARIADB["HOST"],
                port=MARIADB["PORT"],
                user=MARIADB["USER"],
                password=MARIADB["PASSWORD"],
                connect_timeout=3,
            )
            cursor = conn.cursor()
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
            conn.close()
            return None, f"MariaDB {version}"
        if target.key == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
            info = client.info("server")
            client.close()
            return None, f"Redis {info.get('redis_version')}"
        if target.key == "memcached":
            from pymemcache.client.base import Client  # type: ignore[import-untyped]

            host, _, port = MEMCACHED.partition(":")
            mc = Client((host, int(port or 11211)), connect_timeout=3, timeout=3)
            version = mc.version()
            mc.close()
            return None, f"Memcached {version.decode() if isinstance(version, bytes) else version}"
        if target.key == "sqlite":
            import sqlite3

            return None, f"SQLite {sqlite3.sqlite_version}"
        return None, None
    except Exception as exc:  # the reason is the report
        return f"{target.title} is not reachable: {exc}", None


def _probe_broker() -> tuple[str | None, str | None]:
    try:
        from kombu import Connection

        with Connection(BROKER_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
            props = getattr(conn.connection, "server_properties", {}) or {}
            version = props.get("version")
            if isinstance(version, bytes):
                version = version.decode()
            return None, f"RabbitMQ {version}" if version else "broker reachable"
    except Exception as exc:  # the reason is the report
        return f"the broker {BROKER_URL} is not reachable: {exc}", None


# -- scratch databases -------------------------------------------------------------------------


class Scratch:
    """Empty databases made for this run (one per target and implementation), dropped at exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._drops: list[Callable[[], None]] = []

    def database(self, target: Target, impl: str) -> dict[str, Any]:
        """A new database for ``impl`` on ``target`` as a Django ``DATABASES`` entry."""
        name = f"dcr_bench_{os.getpid()}_{target.key}_{impl}"
        if target.kind == "cache" or target.key == "sqlite":
            # Cache targets still need a settings entry; the backend never touches it.
            path = self.directory / f"{name}.sqlite3"
            path.unlink(missing_ok=True)
            return {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"timeout": 30},
            }
        if target.key == "postgresql":
            import psycopg
            from psycopg import sql

            def admin(statement: Any) -> None:
                with psycopg.connect(
                    host=PG["HOST"],
                    port=PG["PORT"],
                    user=PG["USER"],
                    password=PG["PASSWORD"] or None,
                    dbname="postgres",
                    autocommit=True,
                ) as conn:
                    conn.execute(statement)

            ident = sql.Identifier(name)
            admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            admin(sql.SQL("CREATE DATABASE {}").format(ident))
            self._drops.append(
                lambda: admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            )
            return {"ENGINE": "django.db.backends.postgresql", **PG, "NAME": name}
        import MySQLdb

        def run(statement: str) -> None:
            conn = MySQLdb.connect(
                host=MARIADB["HOST"],
                port=MARIADB["PORT"],
                user=MARIADB["USER"],
                password=MARIADB["PASSWORD"],
            )
            try:
                conn.cursor().execute(statement)
            finally:
                conn.close()

        # The name is ours (letters, digits, underscores): quoting it is enough.
        run(f"DROP DATABASE IF EXISTS `{name}`")
        run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self._drops.append(lambda: run(f"DROP DATABASE IF EXISTS `{name}`"))
        return {
            "ENGINE": "django.db.backends.mysql",
            **MARIADB,
            "NAME": name,
            "OPTIONS": {"charset": "utf8mb4"},
        }

    def drop_all(self) -> None:
        """Drop every server database made; SQLite files go with the directory."""
        for drop in reversed(self._drops):
            with contextlib.suppress(Exception):
                drop()
        self._drops.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def _cache_entry(target: Target, impl: str) -> dict[str, Any] | None:
    prefix = f"dcrbench{os.getpid()}{impl}"
    if target.key == "locmem":
        # Room for every result a scenario keeps (the default culls beyond 300 entries).
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": prefix,
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    if target.key == "redis":
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    if target.key == "memcached":
        return {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": MEMCACHED,
            "KEY_PREFIX": prefix,
        }
    return None


# -- the old package's venv --------------------------------------------------------------------


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def old_requirements() -> list[str]:
    """The old package, with exactly this venv's Django, Celery, kombu and drivers."""
    pins = {
        "django": "django",
        "celery": "celery",
        "kombu": "kombu",
        "psycopg": "psycopg[binary]",
        "psycopg-binary": "psycopg-binary",
        "mysqlclient": "mysqlclient",
        "redis": "redis",
        "pymemcache": "pymemcache",
    }
    requirements = [OLD_PACKAGE]
    for distribution, requirement in pins.items():
        version = _installed(distribution)
        if version:
            requirements.append(f"{requirement}=={version}")
    return requirements


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_old_venv() -> Path:
    """``.venv-bench-old`` with the old package (rebuilt when the requirements change)."""
    requirements = old_requirements()
    stamp = OLD_VENV / "bench-requirements.json"
    lock_path = REPO / ".bench" / "old-venv.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        works = (
            subprocess.run(
                [str(_python(OLD_VENV)), "-c", "import django_celery_results"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
            if _python(OLD_VENV).exists()
            else False
        )
        if works and stamp.exists() and json.loads(stamp.read_text()) == requirements:
            return _python(OLD_VENV)
        _say(f"Building {OLD_VENV.name}: {' '.join(requirements)}")
        shutil.rmtree(OLD_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(OLD_VENV)], check=True)
        log = OLD_VENV / "pip-install.log"
        with log.open("w") as out:
            pip = subprocess.run(
                [
                    str(_python(OLD_VENV)),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
                check=False,
            )
        if pip.returncode != 0:
            tail = log.read_text()[-2000:]
            raise RuntimeError(f"pip install of the old package failed (log {log}):\n{tail}")
        stamp.write_text(json.dumps(requirements))
    return _python(OLD_VENV)


def _clean_env() -> dict[str, str]:
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in dropped}


# -- running -----------------------------------------------------------------------------------


@dataclass
class Cell:
    """Everything measured for one implementation on one target."""

    versions: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: str | None = None

    def merge(self, report: dict[str, Any]) -> None:
        """Add one process's report: runs of a scenario seen before are appended."""
        self.versions = report.get("versions") or self.versions
        if report.get("skipped"):
            self.skipped = report["skipped"]
        for name, result in report.get("results", {}).items():
            known = self.results.get(name)
            if known is None or known["status"] != "ok":
                self.results[name] = result
            elif result["status"] == "ok":
                known["runs"] = known["runs"] + result["runs"]
                if "started" in known:
                    known["started"]["runs"] += result["started"]["runs"]
                    known["started"]["median"] = statistics.median(known["started"]["runs"])
                known["median"] = statistics.median(known["runs"])
            else:
                known.setdefault("later_failures", []).append(result.get("error"))

    def ok(self, name: str) -> dict[str, Any] | None:
        """The scenario's result when it ran fine."""
        result = self.results.get(name)
        return result if result and result["status"] == "ok" else None


def run_impl(
    python: Path, config: dict[str, Any], directory: Path, timeout: float = 3600
) -> dict[str, Any]:
    """Run the scenarios with ``python`` and ``config``; their JSON report (or the failure)."""
    stem = f"{config['target']}-{config['impl']}-{time.monotonic_ns()}"
    config_path = directory / f"{stem}.config.json"
    out_path = directory / f"{stem}.out.json"
    config_path.write_text(json.dumps(config))
    done = subprocess.run(
        [str(python), "-m", SCENARIOS, "run", "--config", str(config_path), "--out", str(out_path)],
        # The old package's venv does not have this repository installed: only ``benchmarks``
        # is imported from it, and ``src/`` is not on the path.
        env={**_clean_env(), "PYTHONPATH": str(REPO)},
        cwd=str(directory),
        timeout=timeout,
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0 or not out_path.exists():
        return {
            "results": {
                name: {"status": "failed", "error": f"{SCENARIOS} exited {done.returncode}"}
                for name in config["scenarios"]
            }
        }
    report: dict[str, Any] = json.loads(out_path.read_text())
    return report


@dataclass
class Run:
    """One run of the suite: options, environment, and every cell measured."""

    quick: bool
    rounds: int
    cleanup_big: int | None
    command: str
    started: datetime
    targets: list[Target]
    skipped_targets: dict[str, str]
    servers: dict[str, str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    profiles: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    broker_skipped: str | None = None
    load_at_start: str = ""
    load_at_end: str = ""
    revision: str = ""

    def cell(self, target: str, impl: str) -> Cell:
        """The cell of ``impl`` on ``target`` (empty when it did not run)."""
        return self.cells.setdefault((target, impl), Cell())


def _config(
    run: Run,
    target: Target,
    impl: str,
    database: dict[str, Any],
    scenarios: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "impl": impl,
        "target": target.key,
        "kind": target.kind,
        "vendor": target.vendor,
        "backend": target.backend,
        "database": database,
        "cache": _cache_entry(target, impl),
        "broker_url": None if run.broker_skipped else BROKER_URL,
        "quick": run.quick,
        "scenarios": list(scenarios),
        **extra,
    }


def execute(run: Run, pythons: dict[str, Path | None], scratch: Scratch, directory: Path) -> None:
    """Every pass over every target and implementation; fills ``run.cells``."""
    databases = {
        (t.key, impl): scratch.database(t, impl)
        for t in run.targets
        for impl in IMPLS
        if t.kind == "db" or impl not in ROW_IMPLS
    }
    for round_index in range(run.rounds):
        for target in run.targets:
            impls = [i for i in IMPLS if target.kind == "db" or i not in ROW_IMPLS]
            # Alternate who goes first, so drift over the run does not favour one of them.
            shift = round_index % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                python = pythons[impl]
                cell = run.cell(target.key, impl)
                if python is None:
                    cell.skipped = cell.skipped or "its venv could not be built"
                    continue
                if cell.skipped:
                    continue
                names = list(LIGHT) + (list(HEAVY) if round_index == 0 else [])
                _say(f"round {round_index + 1}/{run.rounds}: {impl} on {target.title}")
                config = _config(
                    run,
                    target,
                    impl,
                    databases[(target.key, impl)],
                    names,
                    repeats=1,
                    cleanup_big=run.cleanup_big if round_index == 0 else None,
                )
                cell.merge(run_impl(python, config, directory))


def profile_misses(
    run: Run,
    checks: list[Check],
    pythons: dict[str, Path | None],
    scratch: Scratch,
    directory: Path,
    limit: int,
) -> None:
    """Profile (cProfile) both packages on each (target, scenario) whose speed target was missed."""
    missed: list[tuple[str, str]] = []
    for check in checks:
        if check.met is False and check.profile and check.profile not in missed:
            missed.append(check.profile)
    # Each missed scenario once (on a server database first) before any scenario twice.
    preference = {"postgresql": 0, "mariadb": 1, "sqlite": 2}
    wanted: list[tuple[str, str]] = []
    for key in sorted(missed, key=lambda k: preference.get(k[0], 3)):
        if all(scenario != key[1] for _, scenario in wanted):
            wanted.append(key)
    wanted += [key for key in missed if key not in wanted]
    by_key = {t.key: t for t in run.targets}
    for target_key, scenario in wanted[:limit]:
        target = by_key[target_key]
        for impl in ("ours", "old"):
            python = pythons[impl]
            if python is None:
                continue
            _say(f"profiling {scenario} on {target.title} ({impl})")
            config = _config(
                run,
                target,
                impl,
                scratch.database(target, f"{impl}_profile_{scenario}"),
                [scenario],
                profile=scenario,
                repeats=2,
            )
            report = run_impl(python, config, directory)
            result = report.get("results", {}).get(scenario, {})
            if report.get("profile"):
                run.profiles[(f"{target_key}:{scenario}", impl)] = {
                    **report["profile"],
                    "ops": _ops_in(result, scenario),
                }


def _ops_in(result: dict[str, Any], scenario: str) -> int:
    """How many operations the profiled timed regions covered."""
    runs = len(result.get("runs", [])) or 1
    if scenario in ("store", "update", "get"):
        return int(result.get("ops", 1)) * runs
    return runs


# -- the bar -----------------------------------------------------------------------------------


@dataclass
class Check:
    """One target of issue 5's bar, on one store, with what was measured."""

    bar: str
    target: str
    measured: str
    met: bool | None
    gap: str = ""
    profile: tuple[str, str] | None = None


def _median(result: dict[str, Any] | None) -> float | None:
    if not result or not result.get("runs"):
        return None
    return float(statistics.median(result["runs"]))


def _rate_ratio(ours: dict[str, Any] | None, other: dict[str, Any] | None) -> float | None:
    """How many times the other's time ours is: > 1 means ours is faster."""
    mine, theirs = _median(ours), _median(other)
    if not mine or not theirs:
        return None
    return theirs / mine


def _not_measured(bar: str, target: Target, why: str) -> Check:
    return Check(bar, target.title, f"not measured: {why}", None)


def _ratio_check(
    bar: str,
    target: Target,
    ours: dict[str, Any] | None,
    other: dict[str, Any] | None,
    needed: float,
    scenario: str,
    what: str = "old",
) -> Check:
    ratio = _rate_ratio(ours, other)
    if ratio is None:
        return _not_measured(bar, target, f"no {scenario} figure for ours or {what}")
    met = ratio >= needed
    measured = (
        f"{ratio:.2f}x {what} ({_ms(_median(ours))} vs {_ms(_median(other))})"
        if what == "old"
        else f"{ratio:.0%} of limit ({_ms(_median(ours))} vs {_ms(_median(other))})"
    )
    gap = ""
    if not met:
        gap = (
            f"{needed / ratio:.2f}x too slow (needs {needed:g}x)"
            if what == "old"
            else f"{(needed - ratio) * 100:.0f} points below {needed:.0%}"
        )
    return Check(bar, target.title, measured, met, gap, (target.key, scenario))


def evaluate(run: Run) -> list[Check]:
    """Issue 5's bar, target by target."""
    checks: list[Check] = []
    for target in run.targets:
        ours, old, limit = (run.cell(target.key, impl) for impl in ("ours", "old", "limit"))
        if target.kind == "db":
            checks += _db_checks(run, target, ours, old, limit)
        else:
            checks += _cache_checks(target, ours)
    return checks


def _db_checks(run: Run, target: Target, ours: Cell, old: Cell, limit: Cell) -> list[Check]:
    checks: list[Check] = []
    server = target.key in ("postgresql", "mariadb")
    for scenario in ("store", "update"):
        result = ours.ok(scenario)
        bar = f"{scenario}: 1 statement"
        if result is None:
            checks.append(_not_measured(bar, target, ours.skipped or "failed"))
        else:
            worst = result["round_trips"]["max"]
            checks.append(
                Check(
                    bar,
                    target.title,
                    f"{worst:g} statement(s) (old: {_trips(old.ok(scenario))})",
                    worst == 1,
                    "" if worst == 1 else f"{worst - 1:g} statement(s) too many",
                )
            )
        if server:
            checks.append(
                _ratio_check(
                    f"{scenario}: >= 3x old", target, result, old.ok(scenario), 3.0, scenario
                )
            )
        checks.append(
            _ratio_check(
                f"{scenario}: >= 80% of limit",
                target,
                result,
                limit.ok(scenario),
                0.8,
                scenario,
                what="limit",
            )
        )
    needed = 2.0 if target.key == "sqlite" else 1.3
    checks.append(
        _ratio_check(
            f"get: >= {needed:g}x old", target, ours.ok("get"), old.ok("get"), needed, "get"
        )
    )
    checks.append(
        _ratio_check("join 500: >= 10x old", target, ours.ok("join"), old.ok("join"), 10.0, "join")
    )
    join = ours.ok("join")
    if join is None:
        checks.append(_not_measured("join 500: <= 2 queries", target, "no join figure"))
    else:
        queries = join["round_trips"]["max"]
        checks.append(
            Check(
                "join 500: <= 2 queries",
                target.title,
                f"{queries:g} (old: {_trips(old.ok('join'))})",
                queries <= 2,
                "" if queries <= 2 else f"{queries - 2:g} too many",
            )
        )
    checks.append(
        _ratio_check(
            "chord 200: >= 3x old", target, ours.ok("chord"), old.ok("chord"), 3.0, "chord"
        )
    )
    checks.append(_chord_constant_check(target, ours.ok("chord"), old.ok("chord")))
    checks.append(_twoproc_check(target, ours.ok("chord_2proc"), old.ok("chord_2proc")))
    checks.append(
        _ratio_check(
            "cleanup: no slower than old",
            target,
            ours.ok("cleanup"),
            old.ok("cleanup"),
            1.0,
            "cleanup",
        )
    )
    checks.append(_memory_check(target, ours.ok("cleanup"), ours.ok("cleanup_big")))
    return checks


def _chord_constant_check(
    target: Target, ours: dict[str, Any] | None, old: dict[str, Any] | None
) -> Check:
    bar = "chord: constant statements per part"
    if ours is None:
        return _not_measured(bar, target, "no chord figure")
    full, half = ours["round_trips"], ours["round_trips_half"]
    part = full["part"]
    constant = part["min"] == part["max"] and full["last_part"] == half["last_part"]
    measured = (
        f"{part['min']:g}-{part['max']:g} per part, last part {full['last_part']} at "
        f"{full['size']} parts and {half['last_part']} at {half['size']}"
    )
    if old:
        measured += (
            f" (old: {old['round_trips']['part']['max']:g} per part, last "
            f"{old['round_trips']['last_part']})"
        )
    gap = "" if constant else "the count depends on the part or on the chord's size"
    return Check(bar, target.title, measured, constant, gap)


def _twoproc_check(
    target: Target, ours: dict[str, Any] | None, old: dict[str, Any] | None
) -> Check:
    bar = "chord from 2 processes: callback exactly once in 100% of runs"
    if ours is None:
        return _not_measured(bar, target, "no two-process figure")
    once, total = ours["fired_once"], ours["chords"]
    measured = f"{once}/{total} runs, {ours['errors']} errors"
    if old:
        measured += f" (old: {old['fired_once']}/{old['chords']}, {old['errors']} errors)"
    gap = ""
    if once != total:
        gap = (
            f"{total - once} run(s) lost or duplicated the callback; "
            f"first error: {ours['first_error']}"
        )
    return Check(bar, target.title, measured, once == total, gap)


def _memory_check(target: Target, ours: dict[str, Any] | None, big: dict[str, Any] | None) -> Check:
    bar = "cleanup: peak memory flat in the number of rows"
    if ours is None:
        return _not_measured(bar, target, "no cleanup figure")
    points = list(ours["memory"]) + (list(big["memory"]) if big else [])
    smallest = min(points, key=lambda p: p["rows"])
    largest = max(points, key=lambda p: p["rows"])
    # Flat: the largest backlog's peak within 1.5x (plus 256 KiB of slack) of the smallest's.
    limit = smallest["peak_python_bytes"] * 1.5 + 256 * 1024
    flat = largest["peak_python_bytes"] <= limit
    measured = ", ".join(
        f"{_kib(p['peak_python_bytes'])} at {p['rows']:,} rows"
        for p in sorted(points, key=lambda p: p["rows"])
    )
    gap = (
        "" if flat else f"grows {largest['peak_python_bytes'] / smallest['peak_python_bytes']:.1f}x"
    )
    return Check(bar, target.title, measured, flat, gap)


def _cache_checks(target: Target, ours: Cell) -> list[Check]:
    bars = (
        "cache join: one round trip per poll",
        "cache chord: no polling unlock task (atomic increment)",
        "cache store: <= 2 round trips",
    )
    if ours.skipped:
        return [_not_measured(bar, target, ours.skipped) for bar in bars]
    checks = []
    join = ours.ok("join")
    if join is None:
        checks.append(_not_measured(bars[0], target, "join failed"))
    else:
        trips = join["round_trips"]["max"]
        checks.append(
            Check(
                bars[0],
                target.title,
                f"{trips:g} round trip(s) for 500 stored results",
                trips == 1,
                "" if trips == 1 else f"{trips - 1:g} round trip(s) too many",
            )
        )
    chord = ours.ok("chord")
    if chord is None:
        checks.append(_not_measured(bars[1], target, "chord failed"))
    else:
        unlocks = chord["round_trips"]["outcome"]["unlock_tasks"]
        checks.append(
            Check(
                bars[1],
                target.title,
                f"{unlocks} unlock task(s) sent",
                unlocks == 0,
                "" if unlocks == 0 else "Celery's polling chord_unlock task is still sent",
            )
        )
    store = ours.ok("store")
    if store is None:
        checks.append(_not_measured(bars[2], target, "store failed"))
    else:
        trips = store["round_trips"]["max"]
        checks.append(
            Check(
                bars[2],
                target.title,
                f"{trips:g} round trip(s)",
                trips <= 2,
                "" if trips <= 2 else f"{trips - 2:g} round trip(s) too many",
            )
        )
    return checks


# -- report ------------------------------------------------------------------------------------

NOTES_BEGIN = "<!-- notes:begin (kept by benchmarks/suite.py between runs) -->"
NOTES_END = "<!-- notes:end -->"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.3f} ms"


def _kib(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:,.0f} KiB"


def _spread(result: dict[str, Any] | None) -> str:
    """Median and spread: (max - min) / median over the runs."""
    if not result or not result.get("runs"):
        return "-"
    runs = result["runs"]
    median = statistics.median(runs)
    spread = (max(runs) - min(runs)) / median if median else 0.0
    return f"{_ms(median)} ±{spread * 50:.0f}%"


def _trips(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    trips = result.get("round_trips") or {}
    if "mean" not in trips:
        return "-"
    if trips["min"] == trips["max"]:
        return f"{trips['max']:g}"
    return f"{trips['min']:g}-{trips['max']:g}"


def _ratio(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:.2f}x"


def _cell_text(cell: Cell, name: str) -> str:
    result = cell.results.get(name)
    if cell.skipped:
        return "skipped"
    if result is None:
        return "-"
    if result["status"] != "ok":
        return str(result["status"])
    return _spread(result)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


SCENARIO_TITLES = {
    "store": "store a new result (per result)",
    "update": "update: SUCCESS over STARTED (per write)",
    "get": "get, uncached (per read)",
    "join": "join of 500 stored results (per join)",
    "chord": "chord of 200: apply_chord + 200 parts stored and returned (per chord)",
}


def _main_rows(run: Run, kind: str) -> list[list[str]]:
    rows = []
    for name in LIGHT:
        for target in (t for t in run.targets if t.kind == kind):
            ours, old, limit, django = (
                run.cell(target.key, impl) for impl in ("ours", "old", "limit", "django")
            )
            rows_impl = kind == "db" and name in LIMIT_NAMES
            trips = f"{_trips(ours.ok(name))} / {_trips(old.ok(name))}"
            if name == "chord":
                mine, theirs = ours.ok(name), old.ok(name)
                trips = f"{_chord_trips(mine)} / {_chord_trips(theirs)}"
            elif kind == "db" and name in LIMIT_NAMES:
                trips += f" / {_trips(limit.ok(name))}"
            rows.append(
                [
                    name,
                    target.title,
                    _cell_text(ours, name),
                    _cell_text(old, name),
                    _cell_text(limit, name) if rows_impl else "",
                    _ratio(_rate_ratio(ours.ok(name), old.ok(name))),
                    _ratio(_rate_ratio(ours.ok(name), limit.ok(name)), percent=True)
                    if rows_impl
                    else "",
                    f"{_cell_text(django, name)} "
                    f"({_ratio(_rate_ratio(django.ok(name), limit.ok(name)), percent=True)})"
                    if rows_impl
                    else "",
                    trips,
                ]
            )
    return rows


LIMIT_NAMES = ("store", "update", "get")


def _chord_trips(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    trips = result["round_trips"]
    part = trips["part"]
    per_part = (
        f"{part['max']:g}" if part["min"] == part["max"] else f"{part['min']:g}-{part['max']:g}"
    )
    text = f"{trips['apply_chord']}+{per_part}/part+{trips['last_part']} last"
    if trips.get("unlock"):
        text += f"+{trips['unlock']} unlock"
    return text


def render(run: Run, checks: list[Check], notes: str) -> str:
    """BENCHMARKS.md."""
    ours_versions = next(
        (c.versions for (t, i), c in run.cells.items() if i == "ours" and c.versions), {}
    )
    old_versions = next(
        (c.versions for (t, i), c in run.cells.items() if i == "old" and c.versions), {}
    )
    out: list[str] = []
    add = out.append
    add("# Benchmarks: celery-results-django vs django-celery-results 2.6.0")
    add("")
    add(
        "Generated by `benchmarks/suite.py`; edit only the notes section at the end (kept "
        "between runs). How the suite works: [README](README.md#benchmarks) and the docstrings "
        "of `benchmarks/suite.py` and `benchmarks/scenarios/`."
    )
    add("")
    add(f"- **Command**: `{run.command}`" + (" (quick mode: smaller scale)" if run.quick else ""))
    add(
        f"- **When**: {run.started:%Y-%m-%d %H:%M} UTC, {run.seconds / 60:.1f} minutes, "
        f"{run.rounds} interleaved rounds of the quick scenarios"
    )
    add(
        f"- **Machine**: {_machine()}; load average (1, 5, 15 min) {run.load_at_start} at the "
        f"start and {run.load_at_end} at the end (anything above 0 is other work sharing the "
        "CPUs and disk: it widens the spreads and slows Python more than the servers)"
    )
    add(
        f"- **Versions**: Python {ours_versions.get('python')}, Django "
        f"{ours_versions.get('django')}, Celery {ours_versions.get('celery')}, kombu "
        f"{ours_versions.get('kombu')}; ours {ours_versions.get('package_name')} "
        f"{ours_versions.get('package')} ({run.revision}), old "
        f"{old_versions.get('package_name', 'django-celery-results')} "
        f"{old_versions.get('package', '2.6.0')} (same Django/Celery/driver versions: "
        f"{'yes' if _same_stack(ours_versions, old_versions) else 'NO'}); drivers psycopg "
        f"{ours_versions.get('psycopg')}, mysqlclient {ours_versions.get('mysqlclient')}, redis "
        f"{ours_versions.get('redis')}, pymemcache {ours_versions.get('pymemcache')}"
    )
    add(f"- **Servers**: {', '.join(run.servers.values()) or '-'}")
    if run.skipped_targets:
        add(
            "- **Skipped**: "
            + "; ".join(f"{key}: {why}" for key, why in run.skipped_targets.items())
        )
    add("")
    add(
        "Times are medians over the runs, ± half the range relative to the median "
        "((max - min) / 2 / median). `ours/old` is how many times the old package's time ours "
        "is (above 1: ours is faster); `% of limit` is the bare driver's time over ours (100%: "
        "as fast as one bare statement). `Django cursor` sends the limit's statement through "
        "Django's cursor for the same database: the floor for any backend using Django's "
        "connection, so `% of limit` above its percentage is not reachable that way. "
        "Round trips: SQL statements counted by "
        "`connection.execute_wrapper`, plus the transaction control Django sends through the "
        "driver's own calls (begin, commit, rollback); cache commands counted on the client "
        "(Redis: packed sends; Memcached: command exchanges; locmem: top-level cache calls)."
    )
    add("")
    add("## The bar (issue 5)")
    add("")
    met = sum(1 for c in checks if c.met)
    missed = sum(1 for c in checks if c.met is False)
    unknown = sum(1 for c in checks if c.met is None)
    add(f"{met} met, {missed} missed, {unknown} not measured.")
    add("")
    out += _table(
        ["target", "on", "measured", "met"],
        [
            [
                c.bar,
                c.target,
                c.measured,
                {True: "yes", False: f"**NO**: {c.gap}", None: "-"}[c.met],
            ]
            for c in checks
        ],
    )
    add("")
    header = [
        "scenario",
        "target",
        "ours",
        "old",
        "limit",
        "ours/old",
        "% of limit",
        "Django cursor (% of limit)",
        "round trips ours / old / limit",
    ]
    add("## django-db")
    add("")
    for name, title in SCENARIO_TITLES.items():
        add(f"- `{name}`: {title}")
    add("")
    out += _table(header, _main_rows(run, "db"))
    add("")
    add(
        "Chord round trips: `apply_chord` + statements per part (`mark_as_done`, as a worker "
        "calls it: the part's result stored and the part counted) + the last part (which also "
        "joins the header and sends the callback)."
    )
    add("")
    out += _twoproc_section(run)
    out += _cleanup_section(run)
    out += _worker_section(run)
    add("## django-cache")
    add("")
    out += _table(header, _main_rows(run, "cache"))
    add("")
    add(
        "The old package's `django-cache` backend has no native join (one `get` per member) and "
        "no atomic counter: every chord sends Celery's `celery.chord_unlock` task, which polls "
        "the header once a second. Here that task is captured and run once, after the last "
        "part, so the time shown is its best case."
    )
    add("")
    out += _misses_section(run, checks)
    out += _failures_section(run)
    add("## Notes")
    add("")
    add(NOTES_BEGIN)
    add(notes.strip("\n"))
    add(NOTES_END)
    add("")
    return "\n".join(out)


def _twoproc_section(run: Run) -> list[str]:
    rows = []
    for target in run.targets:
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        cells = []
        for cell in (ours, old):
            result = cell.ok("chord_2proc")
            if result is None:
                raw = cell.results.get("chord_2proc") or {}
                cells.append(cell.skipped or raw.get("reason") or raw.get("status", "-"))
                continue
            text = (
                f"{result['fired_once']}/{result['chords']} exactly once; lost "
                f"{result['lost']}, twice {result['duplicated']}; {result['errors']} errors; "
                f"{_ms(_median(result))}"
            )
            if result.get("first_error"):
                text += f"; first error: `{result['first_error'][:120]}`"
            cells.append(text)
        rows.append([target.title, *cells])
    lines = ["## Chord of 200 with parts returned from 2 processes at once", ""]
    lines.append(
        "Two forked processes wait on a barrier, then return interleaved halves of the header "
        "as fast as they can. Time: from the first part to the last (median)."
    )
    lines.append("")
    lines += _table(["target", "ours", "old"], rows)
    lines.append("")
    return lines


def _cleanup_section(run: Run) -> list[str]:
    rows = []
    for target in (t for t in run.targets if t.kind == "db"):
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        for name in ("cleanup", "cleanup_big"):
            mine, theirs = ours.ok(name), old.ok(name)
            if mine is None and theirs is None:
                continue
            rows_count = (mine or theirs or {}).get("rows", 0)
            rows.append(
                [
                    target.title,
                    f"{rows_count:,}",
                    _spread(mine),
                    _spread(theirs),
                    _ratio(_rate_ratio(mine, theirs)),
                    _memory_text(mine),
                    _memory_text(theirs),
                    f"{(mine or {}).get('round_trips', {}).get('per_cleanup', '-')} / "
                    f"{(theirs or {}).get('round_trips', {}).get('per_cleanup', '-')}",
                ]
            )
    lines = ["## Cleanup of expired results", ""]
    lines.append(
        "`backend.cleanup()` with that many expired rows plus fresh ones it must keep. Memory "
        "is measured in separate untimed passes: peak Python heap (tracemalloc) at each "
        "backlog, and growth of the process's peak RSS (VmHWM, reset before the call)."
    )
    lines.append("")
    lines += _table(
        [
            "database",
            "expired rows",
            "ours",
            "old",
            "ours/old",
            "ours peak heap / RSS growth",
            "old peak heap / RSS growth",
            "statements ours / old",
        ],
        rows,
    )
    lines.append("")
    return lines


def _memory_text(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    return "; ".join(
        f"{p['rows']:,} rows: {_kib(p['peak_python_bytes'])} / {_kib(p['rss_growth_bytes'])}"
        for p in result["memory"]
    )


def _worker_section(run: Run) -> list[str]:
    rows = []
    for target in run.targets:
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        mine, theirs = ours.ok("worker"), old.ok("worker")
        if mine is None and theirs is None:
            reason = (ours.results.get("worker") or old.results.get("worker") or {}).get(
                "reason"
            ) or ours.skipped
            rows.append([target.title, reason or "-", "", "", ""])
            continue
        rows.append(
            [
                target.title,
                _latency(mine),
                _latency(theirs),
                _ratio(_rate_ratio(mine, theirs)),
                f"{_trips(mine)} / {_trips(theirs)}",
            ]
        )
    lines = ["## A real worker: from a task's end to `AsyncResult.get()` returning", ""]
    lines.append(
        "A worker subprocess (prefork, 2 processes, RabbitMQ) runs tasks that sleep 50-300 ms "
        "and return the time they ended; the client calls `get()` with Celery's defaults "
        "(polling every 0.5 s for these backends), so half the interval is the expected "
        "median whatever the store."
    )
    lines.append("")
    lines += _table(
        ["target", "ours median (p90)", "old median (p90)", "ours/old", "round trips per get"],
        rows,
    )
    lines.append("")
    return lines


def _latency(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    runs = sorted(result["runs"])
    p90 = runs[min(len(runs) - 1, int(len(runs) * 0.9))]
    return f"{_ms(statistics.median(runs))} ({_ms(p90)})"


def _misses_section(run: Run, checks: list[Check]) -> list[str]:
    missed = [c for c in checks if c.met is False]
    lines = ["## Targets missed, and why", ""]
    if not missed:
        lines += ["None.", ""]
        return lines
    for check in missed:
        lines.append(f"- **{check.bar}** on {check.target}: {check.measured}; {check.gap}.")
    lines.append("")
    if run.profiles:
        lines.append(
            "cProfile of the timed regions (profiling inflates Python time relative to I/O; "
            "compare the shares and the per-operation totals, not absolute times):"
        )
        lines.append("")
    keys = sorted({key for key, _ in run.profiles})
    for key in keys:
        lines.append(f"### Profile: {key}")
        lines.append("")
        for impl in ("ours", "old"):
            profile = run.profiles.get((key, impl))
            if not profile:
                continue
            ops = max(1, profile["ops"])
            per_op = profile["total_seconds"] / ops
            io = profile.get("io_seconds", 0.0) / ops
            areas = ", ".join(f"{name} {share:.0%}" for name, share in profile["areas"].items())
            lines.append(
                f"- {impl}: {_ms(per_op)} profiled per operation ({_ms(io)} in the driver and "
                f"waiting for the server, {_ms(per_op - io)} in Python); {areas}"
            )
        lines.append("")
        ours = run.profiles.get((key, "ours"))
        if ours:
            lines.append("  ours, costliest functions (own time):")
            lines.append("")
            for row in ours["top_tottime"][:8]:
                lines.append(
                    f"  - `{row['function']}`: {row['tottime'] * 1000:.0f} ms own, "
                    f"{row['calls']} calls ({row['area']})"
                )
            lines.append("")
            if ours["package_cumtime"]:
                lines.append("  ours, package functions by cumulative time:")
                lines.append("")
                for row in ours["package_cumtime"][:6]:
                    lines.append(
                        f"  - `{row['function']}`: {row['cumtime'] * 1000:.0f} ms cumulative, "
                        f"{row['calls']} calls"
                    )
                lines.append("")
    return lines


def _failures_section(run: Run) -> list[str]:
    lines: list[str] = []
    for (target, impl), cell in sorted(run.cells.items()):
        for name, result in cell.results.items():
            if result["status"] == "failed":
                lines.append(f"### {name}, {impl} on {target}")
                lines.append("")
                lines.append("```")
                lines.append(str(result.get("error", "")).strip()[-2500:])
                lines.append("```")
                lines.append("")
    if lines:
        lines = ["## Scenario failures", "", *lines]
    return lines


def _same_stack(ours: dict[str, Any], old: dict[str, Any]) -> bool:
    keys = ("python", "django", "celery", "kombu", "psycopg", "mysqlclient", "redis", "pymemcache")
    return bool(ours and old) and all(ours.get(k) == old.get(k) for k in keys)


def _machine() -> str:
    model = "?"
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory} RAM, {platform.system()} {platform.release()}"
    )


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {revision}{' + uncommitted changes in src/' if dirty else ''}"


def _existing_notes(path: Path) -> str:
    if not path.exists():
        return "(none yet)"
    text = path.read_text()
    if NOTES_BEGIN in text and NOTES_END in text:
        return text.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0]
    return "(none yet)"


# -- command line ------------------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run",
        description="Benchmark this package against django-celery-results 2.6.0 and the bare "
        "driver, and check issue 5's bar.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller scale (a couple of minutes), for CI smoke runs; writes "
        ".bench/BENCHMARKS-quick.md unless --output is given",
    )
    parser.add_argument(
        "--targets",
        default=",".join(t.key for t in TARGETS),
        help="comma-separated targets (default: all of %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved passes of the quick scenarios (default 5, quick 2)",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="also clean up 1,000,000 expired rows per database (time and peak memory)",
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write the report")
    parser.add_argument(
        "--max-profiles",
        type=int,
        default=None,
        help="profile at most this many missed (target, scenario) pairs (default 10; quick 0)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep .bench/run-*/ (configs and JSON reports)"
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    directory = WORK / f"run-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; write and print the report. Exit status 0 unless the suite itself broke."""
    args = _parse(argv)
    started = time.monotonic()
    wanted = [key.strip() for key in args.targets.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in {t.key for t in TARGETS}]
    if unknown:
        _say(f"unknown targets: {', '.join(unknown)}")
        return 2
    targets, skipped, servers = [], {}, {}
    for target in (t for t in TARGETS if t.key in wanted):
        reason, version = _probe(target)
        if reason:
            skipped[target.key] = reason
            _say(f"skipping {target.title}: {reason}")
        else:
            targets.append(target)
            if version:
                servers[target.key] = version
    broker_reason, broker_version = _probe_broker()
    if broker_version:
        servers["broker"] = broker_version
    command = os.environ.get("BENCH_COMMAND") or " ".join(
        ["benchmarks/suite.py", *(argv or sys.argv[1:])]
    )
    run = Run(
        quick=args.quick,
        rounds=args.rounds or (2 if args.quick else 5),
        cleanup_big=1_000_000 if args.million else None,
        command=command,
        started=datetime.now(timezone.utc),
        targets=targets,
        skipped_targets=skipped,
        servers=servers,
        broker_skipped=broker_reason,
        load_at_start=_load(),
        # Taken before measuring: commits made while the suite runs are not what it measured.
        revision=_git_revision(),
    )
    pythons: dict[str, Path | None] = {impl: Path(sys.executable) for impl in ("ours", *ROW_IMPLS)}
    try:
        pythons["old"] = ensure_old_venv()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        _say(f"the old package's venv cannot be built; its column stays empty: {exc}")
        pythons["old"] = None
    output = args.output or (WORK / "BENCHMARKS-quick.md" if args.quick else REPO / "BENCHMARKS.md")
    with _workdir(args.keep_work) as directory:
        scratch = Scratch(directory / "databases")
        scratch.directory.mkdir(parents=True, exist_ok=True)
        try:
            execute(run, pythons, scratch, directory)
            checks = evaluate(run)
            max_profiles = args.max_profiles
            if max_profiles is None:
                max_profiles = 0 if args.quick else 10
            if max_profiles:
                profile_misses(run, checks, pythons, scratch, directory, max_profiles)
        finally:
            scratch.drop_all()
    run.seconds = time.monotonic() - started
    run.load_at_end = _load()
    report = render(run, checks, _existing_notes(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    sys.stdout.write(report.split("## Notes", 1)[0])
    _say(f"written to {output} ({run.seconds / 60:.1f} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
