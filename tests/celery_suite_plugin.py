"""pytest plugin for Celery's own integration suite run against django-db.

Loaded by scripts/celery-integration (``-p tests.celery_suite_plugin``): it sets Django up with
tests/celery_suite_settings.py and migrates the database before Celery's conftest builds its
app and session worker, leaves out the tests the runner excludes, and caps every test's time
(``DCR_SUITE_TEST_TIMEOUT`` seconds), Celery's own 300-second marks included, so one hung test
costs a minute, not the CI run. The idle check after each test stops waiting once the suite's
one worker has answered. Deprecation warnings are errors (``tests.deprecations``): the runner's
``pytest.ini`` makes them so in the test process, ``install()`` here keeps them so in the
session worker's pool child, after Celery's logging set-up there.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

#: The one deprecation left a warning, in the worker as in the runner's ``pytest.ini``: Celery
#: warns whenever an errback is linked to a chord while the default
#: ``task_allow_error_cb_on_chord_header=False`` holds; Celery's own tests do that
#: (``test_chain_error_handler_with_eta``, the chord errback tests), and the notice asks users
#: to try a setting, not to change code. Not ours, and not a coming break of ours.
CHORD_ERRBACK_NOTICE = "task_allow_error_cb_on_chord_header=False is pending deprecation"


def pytest_configure(config: pytest.Config) -> None:
    """Set Django up and migrate before any test module (and Celery's app) is imported."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.celery_suite_settings")
    import django
    from celery.exceptions import CPendingDeprecationWarning
    from django.core.management import call_command
    from django.db import connections

    from tests import deprecations

    deprecations.install(ignored=[(CHORD_ERRBACK_NOTICE, CPendingDeprecationWarning)])
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    # The suite's prefork worker forks from this process: no connection may be shared.
    connections.close_all()
    _answer_idle_checks_from_the_one_worker()


def _answer_idle_checks_from_the_one_worker() -> None:
    """Let the ``manager`` fixture's idle check return once the suite's one worker answered.

    After every test the fixture asks the workers for their active tasks and waits out the
    whole reply timeout (1 s), since it cannot know how many will answer; the suite has one
    session worker, so ``limit=1`` returns with its answer: over 4 minutes less per run.
    """
    import functools

    from celery.contrib.testing.manager import ManagerMixin

    wait_until_idle = ManagerMixin.wait_until_idle

    def wait_for_the_one_worker(self: Any) -> None:
        control = self.app.control
        control.inspect = functools.partial(control.inspect, limit=1)
        try:
            wait_until_idle(self)
        finally:
            del control.inspect

    ManagerMixin.wait_until_idle = wait_for_the_one_worker  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    """Drop the excluded tests (exact ids); cap the time of the rest.

    ``DCR_SUITE_EXCLUDE`` holds one node id a line. Unlike ``--deselect``, which drops every id
    it is a prefix of, only the named test goes (``test_error_propagates_from_chord`` must not
    take ``test_error_propagates_from_chord2`` with it). Our time cap is put in front of any
    ``timeout`` mark the suite set itself.
    """
    excluded = {line.strip() for line in os.environ.get("DCR_SUITE_EXCLUDE", "").splitlines()}
    excluded.discard("")
    kept = [item for item in items if item.nodeid not in excluded]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in excluded])
        items[:] = kept
    seconds = float(os.environ.get("DCR_SUITE_TEST_TIMEOUT", "60"))
    for item in items:
        item.add_marker(pytest.mark.timeout(seconds), append=False)
