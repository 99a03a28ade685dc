"""The command line of one scenario process: ``run`` (scenarios to a JSON report) or ``worker``."""

from __future__ import annotations

import argparse
import cProfile
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.scenarios.bench import Bench, make_app
from benchmarks.scenarios.limit import DriverLimit
from benchmarks.scenarios.profiling import profile_summary
from benchmarks.scenarios.running import cache_backend_available, run_scenarios, say, versions
from benchmarks.scenarios.scale import ALL_SCENARIOS, FULL, QUICK

__all__ = ["configure_django", "main"]


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
            say(f"[{impl} {vendor}] skipped: {missing}")
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
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenarios", description=__doc__.split("\n", 1)[0]
    )
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
