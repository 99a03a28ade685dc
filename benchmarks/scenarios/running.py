"""Running scenarios by name, reporting each one, and what the process under test has installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.chords import scenario_chord, scenario_chord_2proc
from benchmarks.scenarios.cleanup import scenario_cleanup
from benchmarks.scenarios.join import scenario_join
from benchmarks.scenarios.rows import scenario_get, scenario_store, scenario_update
from benchmarks.scenarios.scale import LIMIT_SCENARIOS
from benchmarks.scenarios.worker import scenario_worker

__all__ = ["SCENARIOS", "cache_backend_available", "run_scenarios", "say", "versions"]

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


def say(message: str) -> None:
    """One line of progress on stderr (stdout is the suite's)."""
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
        say(f"{label} {name}: {_summary(results[name])} ({time.monotonic() - started:.0f} s)")
    if cleanup_big and bench.kind == "db" and bench.driver is None:
        started = time.monotonic()
        try:
            results["cleanup_big"] = scenario_cleanup(bench, rows=cleanup_big)
        except Exception:
            results["cleanup_big"] = {"status": "failed", "error": traceback.format_exc()[-4000:]}
        say(
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
