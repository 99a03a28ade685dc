"""The retry policy of ``domain.retry`` and the error hierarchy it reasons about."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.domain.errors import (
    InvalidRecordError,
    PermanentStorageError,
    ResultBackendError,
    StorageError,
    TransientStorageError,
)
from django_celery_results.domain.retry import RetryPolicy


class DeadlockError(TransientStorageError):
    """An adapter's own refinement of a transient failure."""


NOT_RETRYABLE: list[BaseException] = [
    PermanentStorageError("no such table", alias="default"),
    StorageError("unclassified", alias="default"),
    InvalidRecordError("worker", "too long"),
    ResultBackendError("other"),
    # Driver exceptions must be translated by the adapter first; raw ones are never retried.
    ConnectionError("reset by peer"),
    TimeoutError("lock wait"),
    OSError("broken pipe"),
    RuntimeError("bug"),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize(
    "exc",
    [
        TransientStorageError("gone away"),
        TransientStorageError("x", alias="pg"),
        DeadlockError("d"),
    ],
)
def test_transient_errors_are_retryable(exc: BaseException) -> None:
    """TransientStorageError and its subclasses are retried by default."""
    assert RetryPolicy().is_retryable(exc) is True


@pytest.mark.parametrize("exc", NOT_RETRYABLE, ids=lambda e: type(e).__name__)
def test_everything_else_is_not_retryable(exc: BaseException) -> None:
    """Permanent, unclassified, validation and untranslated driver errors are never retried."""
    assert RetryPolicy().is_retryable(exc) is False
    assert RetryPolicy().alias_to_reset(exc) is None


def test_retry_can_be_switched_off() -> None:
    """With retry_transient=False nothing is retryable and no alias is reset."""
    policy = RetryPolicy(retry_transient=False)
    exc = TransientStorageError("gone away", alias="default")
    assert policy.is_retryable(exc) is False
    assert policy.alias_to_reset(exc) is None


@given(st.text(min_size=1, max_size=40))
def test_alias_to_reset_is_the_failed_alias(alias: str) -> None:
    """The alias to reset is the one the adapter named on the transient error."""
    assert RetryPolicy().alias_to_reset(TransientStorageError("lost", alias=alias)) == alias


def test_alias_to_reset_unknown() -> None:
    """A transient error that names no alias resets none."""
    assert RetryPolicy().alias_to_reset(TransientStorageError("lost")) is None


def test_permanent_error_alias_is_not_reset() -> None:
    """A permanent error is not retried, so its alias is not reset."""
    assert RetryPolicy().alias_to_reset(PermanentStorageError("denied", alias="pg")) is None


def test_error_hierarchy() -> None:
    """Every storage error is a ResultBackendError; transient and permanent are disjoint."""
    assert issubclass(StorageError, ResultBackendError)
    assert issubclass(TransientStorageError, StorageError)
    assert issubclass(PermanentStorageError, StorageError)
    assert not issubclass(TransientStorageError, PermanentStorageError)
    assert not issubclass(PermanentStorageError, TransientStorageError)


def test_storage_error_keeps_message_and_alias() -> None:
    """A StorageError carries its message and the failing alias (None when unknown)."""
    exc = TransientStorageError("server has gone away", alias="mariadb")
    assert (str(exc), exc.alias) == ("server has gone away", "mariadb")
    assert StorageError("x").alias is None


def test_policy_is_a_frozen_value() -> None:
    """RetryPolicy is immutable and compares by value."""
    assert RetryPolicy() == RetryPolicy(retry_transient=True)
    with pytest.raises(AttributeError):
        RetryPolicy().retry_transient = False  # type: ignore[misc]
