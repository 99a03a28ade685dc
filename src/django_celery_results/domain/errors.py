"""One hierarchy of domain errors; adapters translate their own exceptions into these.

Nothing above an adapter catches a driver's or a cache client's exception: it sees these::

    ResultBackendError                  every error the domain raises or translates into
    +-- InvalidRecordError (ValueError) a value the storage cannot hold; names the field
    +-- StorageError                    the storage refused or failed; ``alias`` names it
        +-- TransientStorageError       may pass when repeated: retried (``retry``)
        +-- PermanentStorageError       will fail again: never retried
"""

from __future__ import annotations

__all__ = [
    "InvalidRecordError",
    "PermanentStorageError",
    "ResultBackendError",
    "StorageError",
    "TransientStorageError",
]


class ResultBackendError(Exception):
    """Base class of every error the domain raises or an adapter translates into."""


class InvalidRecordError(ResultBackendError, ValueError):
    """A record was built from a value the storage cannot hold.

    The message names the field, the offending value (shortened) and the limit, so a user can
    tell which task produced it. Nothing already stored is touched when this is raised.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StorageError(ResultBackendError):
    """The storage refused or failed an operation; subclasses tell whether a retry may help."""

    def __init__(self, message: str, *, alias: str | None = None) -> None:
        super().__init__(message)
        #: Which connection (Django database alias, cache alias) failed, when known.
        self.alias = alias


class TransientStorageError(StorageError):
    """A failure that the same operation may not meet again; safe to retry.

    Lost connection, deadlock, lock timeout, server gone away.
    """


class PermanentStorageError(StorageError):
    """A failure that repeating the operation will meet again; never retried.

    Bad data, missing table, permission denied.
    """
