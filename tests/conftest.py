"""Fixtures shared by the whole suite: database aliases, a frozen clock, hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Helper modules full of asserts get pytest's assertion rewriting too (only test modules and
# conftest files get it by default), so a failing contract clause shows the values it compared.
pytest.register_assert_rewrite(
    "tests.contract", "tests.chord_part_contract", "tests.keyvalue_contract", "tests.fakes"
)

from tests import deprecations  # noqa: E402 - after register_assert_rewrite
from tests import settings as test_settings  # noqa: E402 - after register_assert_rewrite
from tests.fakes import FrozenClock  # noqa: E402 - after register_assert_rewrite

# Celery's test worker (start_worker -> app.log.setup) puts "always" filters for Celery's own
# CDeprecationWarning / CPendingDeprecationWarning ahead of pytest.ini's "error" and captures
# warnings into the log; install() makes them errors again after each such set-up (issue 11).
deprecations.install()

# "dev" keeps runs quick; "ci" explores more. Neither has a deadline: shared CI runners stall.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if test_settings.IN_CI else "dev"))


def _db_alias_params() -> list[object]:
    # Configured aliases run; the ones tests.settings could not reach are listed too, skipped
    # with the probe's reason, so a laptop without PostgreSQL reports why instead of hiding it.
    params: list[object] = [pytest.param(alias, id=alias) for alias in test_settings.DATABASES]
    params += [
        pytest.param(alias, id=alias, marks=pytest.mark.skip(reason=reason))
        for alias, reason in test_settings.SKIPPED_DATABASES.items()
    ]
    return params


@pytest.fixture(params=_db_alias_params())
def db_alias(request: pytest.FixtureRequest) -> str:
    """Each database alias of ``tests.settings`` in turn (unreachable ones skip with the reason).

    The fixture only names the alias: a test that touches it still needs database access, e.g.
    ``@pytest.mark.django_db(databases="__all__")`` (add ``transaction=True`` when other
    threads or processes must see the rows).
    """
    alias: str = request.param
    return alias


@pytest.fixture
def frozen_clock() -> FrozenClock:
    """A clock frozen at ``tests.fakes.EPOCH`` (microseconds set) that the test moves by hand."""
    return FrozenClock()
