"""Translate the cache clients' exceptions into the domain's storage errors.

Django's cache backends let their client library's exceptions through: ``redis-py``'s for
``RedisCache``, ``pymemcache``'s or socket errors for ``PyMemcacheCache``, ``pylibmc``'s for
``PyLibMCCache``, database errors for ``DatabaseCache`` and ``OSError`` for ``FileBasedCache``.
Each is classified by what a retry can hope for: a server that could not be reached, timed out,
is loading or failing over is *transient*; everything else (a wrong type under a key, a refused
password, a value too large) is *permanent*. Client libraries are imported only if installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Final

from django.core.cache.backends.base import InvalidCacheKey
from django.db import connections
from django.db.utils import Error as DjangoDatabaseError

from ...domain.errors import PermanentStorageError, StorageError, TransientStorageError
from ..db_errors import describe
from ..db_errors import is_transient as is_transient_database_error

__all__ = [
    "PYLIBMC_TRANSIENT",
    "PYMEMCACHE_TRANSIENT",
    "REDIS_PERMANENT",
    "REDIS_TRANSIENT",
    "classify",
    "translated_errors",
]

#: redis-py exception names (``redis.exceptions``) that a retry on a new connection may cure.
#: ``AuthenticationError`` and ``AuthorizationError`` subclass ``ConnectionError`` but are not.
REDIS_TRANSIENT: Final = frozenset(
    {
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",  # the server is loading its dataset
        "ReadOnlyError",  # writing to a replica during a failover
        "TryAgainError",  # cluster resharding
        "ClusterDownError",
        "MasterDownError",
        "MaxConnectionsError",  # the pool is exhausted for now
    }
)
REDIS_PERMANENT: Final = frozenset({"AuthenticationError", "AuthorizationError"})

#: pymemcache exception names worth a retry. A bare ``MemcacheError`` is what its ``HashClient``
#: raises when every server is marked down ("All servers seem to be down right now").
PYMEMCACHE_TRANSIENT: Final = frozenset({"MemcacheUnexpectedCloseError", "MemcacheError"})

#: pylibmc exception names worth a retry.
PYLIBMC_TRANSIENT: Final = frozenset(
    {"ConnectionError", "ConnectionBindError", "ServerDown", "ServerDead", "SocketCreateError"}
)


@contextlib.contextmanager
def translated_errors(alias: str, database_alias: Callable[[], str | None]) -> Iterator[None]:
    """Run a cache operation; its client's exceptions leave as ``StorageError`` subclasses.

    Domain errors pass through, and so does anything that is not a storage failure (a bug, a
    value that cannot be pickled). Both translated errors carry the cache ``alias`` and chain
    the original as ``__cause__``.

    Args:
        alias: the Django cache alias the operation used.
        database_alias: gives the database alias a ``DatabaseCache`` reads through, so that a
            transient database error can close that connection (the retry then reconnects).
    """
    try:
        yield
    except StorageError:
        raise
    except InvalidCacheKey as exc:
        raise PermanentStorageError(describe(exc), alias=alias) from exc
    except DjangoDatabaseError as exc:
        db_alias = database_alias()
        if db_alias is not None and is_transient_database_error(exc, db_alias):
            _close_database_connection(db_alias)
            raise TransientStorageError(describe(exc), alias=alias) from exc
        raise PermanentStorageError(describe(exc), alias=alias) from exc
    except Exception as exc:
        verdict = classify(exc)
        if verdict is None:
            raise
        error = TransientStorageError if verdict else PermanentStorageError
        raise error(describe(exc), alias=alias) from exc


def classify(exc: BaseException) -> bool | None:
    """True for a transient cache failure, False for a permanent one, None for no failure.

    Matched by the exception's module and class names, so that no client library has to be
    installed for the others to be recognised.
    """
    module = type(exc).__module__
    names = {klass.__name__ for klass in type(exc).__mro__}
    if module.startswith("redis"):
        if names & REDIS_PERMANENT:
            return False
        return bool(names & REDIS_TRANSIENT) if "RedisError" in names else None
    if module.startswith("pymemcache"):
        return type(exc).__name__ in PYMEMCACHE_TRANSIENT
    if module.startswith(("pylibmc", "_pylibmc")):
        return type(exc).__name__ in PYLIBMC_TRANSIENT
    if isinstance(exc, (ConnectionError, TimeoutError)):
        # pymemcache's sockets (refused, reset, timed out) and a file cache on a network mount.
        return True
    if isinstance(exc, OSError):
        # The file cache: a full disk, a missing permission, a read-only file system.
        return False
    return None


def _close_database_connection(alias: str) -> None:
    # Closing a broken connection can itself fail; Django forgets it either way.
    with contextlib.suppress(Exception):
        connection = connections[alias]
        # Inside the caller's transaction the connection is the transaction's to handle.
        if not connection.in_atomic_block:
            connection.close()
