"""The state names and the transition policy of ``domain.states``."""

from __future__ import annotations

from itertools import product

import celery.states
import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.domain import states
from tests.contract.support import ALL_STATES, CELERY_STATES, PROGRESS

READY = {states.SUCCESS, states.FAILURE, states.REVOKED}

#: The policy written out by hand, one row per stored state: the incoming states that may
#: replace it. Deliberately not derived from ``states`` so the two are checked one against
#: the other.
MAY_REPLACE: dict[str, set[str]] = {
    states.SUCCESS: set(),
    states.FAILURE: READY,
    states.REVOKED: READY,
    states.PENDING: set(ALL_STATES),
    states.RECEIVED: set(ALL_STATES),
    states.STARTED: set(ALL_STATES),
    states.RETRY: set(ALL_STATES),
    states.REJECTED: set(ALL_STATES),
    states.IGNORED: set(ALL_STATES),
    PROGRESS: set(ALL_STATES),
}

#: Any state name: Celery's, or a custom one as ``update_state(state=...)`` may store.
any_state = st.sampled_from(ALL_STATES) | st.text(min_size=1, max_size=20)


@pytest.mark.parametrize(
    "name",
    [
        "PENDING",
        "RECEIVED",
        "STARTED",
        "SUCCESS",
        "FAILURE",
        "REVOKED",
        "RETRY",
        "REJECTED",
        "IGNORED",
    ],
)
def test_names_equal_celerys(name: str) -> None:
    """Each state constant has the value of the same-named constant in celery.states."""
    assert getattr(states, name) == getattr(celery.states, name)


def test_every_celery_state_is_named() -> None:
    """Every state in celery.states.ALL_STATES has a domain constant."""
    assert set(celery.states.ALL_STATES) <= set(CELERY_STATES)


def test_state_sets_equal_celerys() -> None:
    """READY, EXCEPTION and PROPAGATE sets are celery.states' own."""
    assert states.READY_STATES == celery.states.READY_STATES
    assert states.EXCEPTION_STATES == celery.states.EXCEPTION_STATES
    assert states.PROPAGATE_STATES == celery.states.PROPAGATE_STATES


@pytest.mark.parametrize("state", ALL_STATES)
def test_is_ready_exactly_for_ready_states(state: str) -> None:
    """is_ready() is true for SUCCESS, FAILURE and REVOKED only (custom states are not)."""
    assert states.is_ready(state) is (state in READY)
    assert states.is_ready(state) is (state in celery.states.READY_STATES)


@given(any_state)
def test_is_ready_for_any_name(state: str) -> None:
    """is_ready() of any name agrees with celery.states.READY_STATES."""
    assert states.is_ready(state) is (state in celery.states.READY_STATES)


@pytest.mark.parametrize(("stored", "incoming"), list(product(ALL_STATES, ALL_STATES)))
def test_may_overwrite_table(stored: str, incoming: str) -> None:
    """may_overwrite() follows the hand-written table for every pair of states."""
    assert states.may_overwrite(stored, incoming) is (incoming in MAY_REPLACE[stored])


@pytest.mark.parametrize(("stored", "incoming"), list(product(ALL_STATES, ALL_STATES)))
def test_blocking_states_agrees_with_may_overwrite(stored: str, incoming: str) -> None:
    """A stored state blocks an incoming one exactly when may_overwrite() says no."""
    blocked = stored in states.blocking_states(incoming)
    assert blocked is not states.may_overwrite(stored, incoming)


@pytest.mark.parametrize("incoming", ALL_STATES)
def test_blocking_states_values(incoming: str) -> None:
    """Ready states are blocked by SUCCESS only; every other state by any ready state."""
    expected = {states.SUCCESS} if incoming in READY else READY
    assert states.blocking_states(incoming) == expected


@given(any_state)
def test_blocking_states_is_a_frozenset_of_ready_states(incoming: str) -> None:
    """blocking_states() is an immutable subset of the ready states that always holds SUCCESS."""
    blocking = states.blocking_states(incoming)
    assert isinstance(blocking, frozenset)
    assert states.SUCCESS in blocking
    assert blocking <= states.READY_STATES


@given(any_state)
def test_nothing_stored_never_blocks(incoming: str) -> None:
    """may_overwrite(None, state) is always true: a first write always happens."""
    assert states.may_overwrite(None, incoming) is True


@given(any_state)
def test_custom_states_are_overwritten_by_anything(incoming: str) -> None:
    """A stored custom (non-Celery) state never blocks anything."""
    assert states.may_overwrite("MY-CUSTOM-PROGRESS", incoming) is True


def _apply(sequence: list[str]) -> str | None:
    stored: str | None = None
    for incoming in sequence:
        if states.may_overwrite(stored, incoming):
            stored = incoming
    return stored


@given(st.lists(any_state, min_size=1, max_size=30))
def test_any_sequence_ending_state(sequence: list[str]) -> None:
    """Applying states in any order: SUCCESS sticks; else the last ready state; else the last."""
    final = _apply(sequence)
    ready = [s for s in sequence if s in READY]
    if states.SUCCESS in sequence:
        assert final == states.SUCCESS
    elif ready:
        assert final == ready[-1]
    else:
        assert final == sequence[-1]


@given(st.lists(any_state, max_size=30), st.lists(any_state, max_size=30))
def test_a_ready_state_is_never_lost_to_a_non_ready_one(
    before: list[str], after: list[str]
) -> None:
    """Once a ready state is stored, the stored state stays ready whatever arrives later."""
    final = _apply([*before, states.FAILURE, *after])
    assert final is not None
    assert states.is_ready(final)
