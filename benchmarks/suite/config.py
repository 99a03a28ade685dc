"""The suite's settings: paths, implementations, scenario groups, and where the servers are."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BROKER_URL",
    "HEAVY",
    "IMPLS",
    "LIGHT",
    "MARIADB",
    "MEMCACHED",
    "OLD_PACKAGE",
    "OLD_VENV",
    "PG",
    "REDIS_URL",
    "REPO",
    "ROW_IMPLS",
    "SCENARIOS",
    "WORK",
    "connect_mariadb",
    "connect_postgresql",
    "say",
]

#: The repository root (``benchmarks/suite/config.py`` is three levels below it).
REPO = Path(__file__).resolve().parents[2]
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


def connect_postgresql(**options: Any) -> Any:
    """A psycopg connection to the server's ``postgres`` database as ``PG`` says."""
    import psycopg  # a driver the suite needs only when the target is measured

    return psycopg.connect(
        host=PG["HOST"],
        port=PG["PORT"],
        user=PG["USER"],
        password=PG["PASSWORD"] or None,
        dbname="postgres",
        **options,
    )


def connect_mariadb(**options: Any) -> Any:
    """A MySQLdb connection to the server as ``MARIADB`` says (no database selected)."""
    import MySQLdb  # a driver the suite needs only when the target is measured

    return MySQLdb.connect(
        host=MARIADB["HOST"],
        port=MARIADB["PORT"],
        user=MARIADB["USER"],
        password=MARIADB["PASSWORD"],
        **options,
    )


def say(message: str) -> None:
    """One line of progress on stderr, with the time of day."""
    sys.stderr.write(f"==> {datetime.now():%H:%M:%S} {message}\n")
    sys.stderr.flush()
