"""Deprecation warnings as errors in the processes the tests start (issue 11).

``pytest.ini``'s ``filterwarnings = error`` covers the pytest process only. The workers and
scripts the tests start run our code with Django and Celery too, and a deprecation there must
fail the run a release before the break, as it does in-process:

- ``environ(env)`` adds ``PYTHONWARNINGS`` (``error::DeprecationWarning`` and
  ``error::PendingDeprecationWarning``, so from the interpreter's start, imports included);
- ``install()``, called in the started process, does the same with ``warnings.filterwarnings``
  and keeps it after Celery's logging set-up: ``celery.app.log.Logging.setup`` (run by every
  worker, its pool children and Celery's test worker) turns Celery's own
  ``CDeprecationWarning`` and ``CPendingDeprecationWarning`` back to ``always`` and routes
  warnings to the log, where nobody would see them.

``CDeprecationWarning`` and ``CPendingDeprecationWarning`` subclass ``DeprecationWarning`` and
``PendingDeprecationWarning``, so the two categories cover Celery's too. This module imports only
the standard library and Celery: ``tests.oldpkg.run_current`` copies it, by its source, into
scripts that cannot import ``tests``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from celery.app import log as celery_log
from celery.exceptions import CDeprecationWarning, CPendingDeprecationWarning

__all__ = ["CATEGORIES", "PYTHONWARNINGS", "environ", "install", "make_errors"]

#: The warnings that are errors; Celery's two are named for the filters Celery itself sets.
CATEGORIES: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    CDeprecationWarning,
    CPendingDeprecationWarning,
)

#: The same as ``PYTHONWARNINGS`` (which takes built-in categories only).
PYTHONWARNINGS = "error::DeprecationWarning,error::PendingDeprecationWarning"


def environ(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with ``PYTHONWARNINGS`` making deprecations errors (after any filters it had)."""
    previous = env.get("PYTHONWARNINGS")
    # The last -W option wins, so ours go after the caller's.
    value = f"{previous},{PYTHONWARNINGS}" if previous else PYTHONWARNINGS
    return {**env, "PYTHONWARNINGS": value}


def make_errors(ignored: Sequence[tuple[str, type[Warning]]] = ()) -> None:
    """Make every warning of ``CATEGORIES`` an error here, ahead of other filters.

    ``ignored``: (message regex, category) pairs that stay ignored, each named and explained
    by the caller (a third party's warning that is not ours to fix).
    """
    for category in CATEGORIES:
        warnings.filterwarnings("error", category=category)
    for message, category in ignored:
        warnings.filterwarnings("ignore", message=message, category=category)


def install(ignored: Sequence[tuple[str, type[Warning]]] = ()) -> None:
    """``make_errors(ignored)`` now and again after each ``Logging.setup`` of Celery (above)."""
    global _ignored, _installed
    _ignored = tuple(ignored)
    make_errors(_ignored)
    if _installed:
        return
    setup = celery_log.Logging.setup

    @functools.wraps(setup)
    def setup_then_make_errors(self: Any, *args: Any, **kwargs: Any) -> Any:
        handled = setup(self, *args, **kwargs)
        make_errors(_ignored)
        return handled

    celery_log.Logging.setup = setup_then_make_errors  # type: ignore[method-assign]
    _installed = True


_installed = False
_ignored: tuple[tuple[str, type[Warning]], ...] = ()
