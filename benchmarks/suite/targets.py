"""The stores the backends are measured on (``TARGETS``), and probes of their servers."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.suite.config import (
    BROKER_URL,
    MEMCACHED,
    REDIS_URL,
    connect_mariadb,
    connect_postgresql,
)

__all__ = ["TARGETS", "Target", "probe", "probe_broker"]


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


def probe(target: Target) -> tuple[str | None, str | None]:
    """(reason it is unavailable or None, server version or None)."""
    try:
        if target.key == "postgresql":
            with connect_postgresql(connect_timeout=3) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                return None, f"PostgreSQL {row[0] if row else '?'}"
        if target.key == "mariadb":
            conn = connect_mariadb(connect_timeout=3)
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


def probe_broker() -> tuple[str | None, str | None]:
    """(reason the broker is unavailable or None, its version or None)."""
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
