"""The store of one run: a scratch database (PostgreSQL, MariaDB) or a key prefix (Redis)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["create_store", "drop_store"]


def create_store(store: str, name: str) -> None:
    """Make the scratch database ``name`` (Redis needs none: its keys carry the prefix)."""
    if store == "postgresql":
        from psycopg import sql

        _pg_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    elif store == "mariadb":
        _mariadb_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


def drop_store(store: str, name: str) -> None:
    """Drop the scratch database ``name``, or delete the keys under the prefix ``name``."""
    if store == "postgresql":
        from psycopg import sql

        _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    elif store == "mariadb":
        _mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`")
    else:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=_redis_db())
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def _pg_admin(statement: Any) -> None:
    """Run ``statement`` in autocommit on the server's ``postgres`` database."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user=_pg_user(), dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(statement)


def _mariadb_admin(statement: str) -> None:
    """Run ``statement`` on the MariaDB server (no database selected)."""
    import MySQLdb

    connection = MySQLdb.connect(
        host="127.0.0.1",
        port=3306,
        user=os.environ.get("TEST_MARIADB_USER", "root"),
        password=os.environ.get("TEST_MARIADB_PASSWORD", ""),
    )
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()


def _pg_user() -> str:
    return os.environ.get("TEST_PG_USER", "postgres")


def _redis_db() -> int:
    return int(os.environ.get("DCR_SOAK_REDIS_DB", "13"))
