"""The retention policy (issue 14): the setting's parser, the fallbacks and the disjoint rules."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from django_celery_results.adapters.memory import (
    MemoryChordCounterRepository,
    MemoryGroupRepository,
    MemoryTaskRepository,
)
from django_celery_results.domain.records import GroupRecord, TaskRecord
from django_celery_results.domain.results import ResultStore
from django_celery_results.domain.retention import (
    RetentionPolicy,
    RetentionRule,
    Selection,
    narrowed,
    parse_duration,
)
from tests.fakes import FrozenClock

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SETTING = {
    "SUCCESS": DAY,
    "FAILURE": "30d",
    "REVOKED": None,
    "default": 7 * 86400,
    "tasks": {
        "proj.report": {"SUCCESS": 3600},
        "proj.keep": {"default": None, "FAILURE": "1h"},
        "proj.audit": {"default": "2d"},
    },
}
STATES = ("SUCCESS", "FAILURE", "REVOKED", "STARTED", "PENDING", "RETRY")
NAMES = (None, "proj.report", "proj.keep", "proj.audit", "proj.other")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        (DAY, DAY),
        ("45", timedelta(seconds=45)),
        ("10s", timedelta(seconds=10)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        (" 1.5d ", timedelta(days=1.5)),
    ],
)
def test_parse_duration_accepts_seconds_timedeltas_and_units(
    value: object, expected: timedelta
) -> None:
    """Seconds, timedeltas and '<n><s|m|h|d|w>' text all become the same timedelta."""
    assert parse_duration(value, "X") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "more than 0 seconds"),
        (-5, "more than 0 seconds"),
        (timedelta(0), "more than 0 seconds"),
        ("0d", "more than 0 seconds"),
        ("7 days", "not a duration"),
        ("d", "not a duration"),
        (float("nan"), "finite"),
        (True, "must be seconds"),
        ([1], "must be seconds"),
    ],
)
def test_parse_duration_refuses_with_the_place_and_the_limit(value: object, message: str) -> None:
    """A bad duration names where it was found and what is allowed."""
    with pytest.raises(ValueError, match=message) as info:
        parse_duration(value, "WHERE['SUCCESS']")
    assert "WHERE['SUCCESS']" in str(info.value)


def test_no_setting_is_an_empty_policy_following_result_expires() -> None:
    """Without the setting every result follows result_expires: one rule, for everything."""
    policy = RetentionPolicy.from_setting(None)
    assert policy.is_empty
    assert policy.rules(DAY) == [RetentionRule(Selection(), DAY)]
    assert policy.rules(None) == []
    assert policy.age_of("SUCCESS", "any", HOUR) == HOUR


def test_the_fallback_order() -> None:
    """tasks[T][S], then tasks[T]['default'], then [S], then ['default'], then result_expires."""
    policy = RetentionPolicy.from_setting(SETTING)
    assert policy.age_of("SUCCESS", "proj.report", HOUR) == HOUR  # tasks[T][S]
    assert policy.age_of("FAILURE", "proj.report", HOUR) == 30 * DAY  # [S]
    assert policy.age_of("STARTED", "proj.report", HOUR) == 7 * DAY  # ['default']
    assert policy.age_of("SUCCESS", "proj.keep", HOUR) is None  # tasks[T]['default'] = None
    assert policy.age_of("FAILURE", "proj.keep", HOUR) == HOUR
    assert policy.age_of("REVOKED", "proj.audit", HOUR) == 2 * DAY
    assert policy.age_of("REVOKED", None, HOUR) is None
    assert policy.age_of("SUCCESS", None, HOUR) == DAY
    no_default = RetentionPolicy.from_setting({"SUCCESS": 60})
    assert no_default.age_of("FAILURE", "x", HOUR) == HOUR  # result_expires
    assert no_default.age_of("FAILURE", "x", None) is None


@pytest.mark.parametrize("result_expires", [HOUR, None])
def test_rules_are_disjoint_and_agree_with_age_of(result_expires: timedelta | None) -> None:
    """Every (state, task name) is matched by exactly the rule of its age, or by none if kept."""
    policy = RetentionPolicy.from_setting(SETTING)
    rules = policy.rules(result_expires)
    for state, name in itertools.product((*STATES, "CUSTOM_STATE"), NAMES):
        matching = [rule for rule in rules if rule.selection.matches(state, name)]
        age = policy.age_of(state, name, result_expires)
        if age is None:
            assert matching == [], (state, name)
        else:
            assert [rule.keep for rule in matching] == [age], (state, name)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"DJANGO_CELERY_RESULTS_RETENTION: must be a dict, got list"),
        ({"success": 1}, r"\['success'\]: unknown key; use a state name in capitals"),
        ({1: 1}, r"\[1\]: unknown key"),
        ({"SUCCESS": 0}, r"\['SUCCESS'\]: must be more than 0 seconds"),
        ({"default": "soon"}, r"\['default'\]: 'soon' is not a duration"),
        ({"tasks": []}, r"\['tasks'\]: must be a dict of task name"),
        ({"tasks": {"": {}}}, r"\['tasks'\]: task names must be non-empty text"),
        ({"tasks": {"t": 5}}, r"\['tasks'\]\['t'\]: must be a dict, got int"),
        ({"tasks": {"t": {"tasks": {}}}}, r"\['tasks'\]\['t'\]\['tasks'\]: unknown key"),
        ({"tasks": {"t": {"FAILURE": -1}}}, r"\['t'\]\['FAILURE'\]: must be more than 0"),
    ],
)
def test_from_setting_names_the_key_and_the_limit(value: object, message: str) -> None:
    """Each invalid setting raises ValueError naming the setting, the key and the rule broken."""
    with pytest.raises(ValueError, match=message):
        RetentionPolicy.from_setting(value)


def test_override_replaces_some_keys() -> None:
    """Command-line overrides replace keys of the policy and add task entries."""
    policy = RetentionPolicy.from_setting(SETTING).override(
        ages={"SUCCESS": HOUR}, task_ages={"proj.report": {"FAILURE": DAY}, "new": {"default": DAY}}
    )
    assert policy.age_of("SUCCESS", "proj.other", None) == HOUR
    assert policy.age_of("SUCCESS", "proj.report", None) == HOUR
    assert policy.age_of("FAILURE", "proj.report", None) == DAY
    assert policy.age_of("PENDING", "new", None) == DAY


def test_narrowed_keeps_only_the_asked_states_and_names() -> None:
    """--state / --task-name narrow each rule; rules left with nothing are dropped."""
    policy = RetentionPolicy.from_setting(SETTING)
    rules = narrowed(policy.rules(None), frozenset({"SUCCESS"}), None)
    for state, name in itertools.product(STATES, NAMES):
        matching = [rule for rule in rules if rule.selection.matches(state, name)]
        expected = policy.age_of(state, name, None) if state == "SUCCESS" else None
        assert [rule.keep for rule in matching] == ([expected] if expected else []), (state, name)
    only = narrowed(policy.rules(None), None, frozenset({"proj.report"}))
    assert {rule.selection.describe() for rule in only} == {
        ("SUCCESS", "proj.report"),
        ("FAILURE", "proj.report"),
        ("* except FAILURE,REVOKED,SUCCESS", "proj.report"),
    }


class _MemoryTarget:
    """A RetentionTarget over the memory repositories' records (for the use case's test)."""

    def __init__(self, rows: list[TaskRecord]) -> None:
        self.rows = rows
        self.batches: list[int] = []

    def _matching(self, selection: Selection, cutoff: datetime) -> list[TaskRecord]:
        return [
            r
            for r in self.rows
            if r.date_done is not None
            and r.date_done < cutoff
            and selection.matches(r.status, r.task_name)
        ]

    def count_done_before(self, selection: Selection, cutoff: datetime) -> int:
        return len(self._matching(selection, cutoff))

    def delete_done_before(
        self,
        selection: Selection,
        cutoff: datetime,
        batch_size: int | None,
        progress: object = None,
    ) -> int:
        gone = self._matching(selection, cutoff)
        self.rows = [r for r in self.rows if r not in gone]
        self.batches.append(len(gone))
        return len(gone)

    def count_groups_before(self, cutoff: datetime) -> int:
        return 0

    def count_chords_before(self, cutoff: datetime) -> int:
        return 0


def test_apply_retention_deletes_per_rule_and_a_dry_run_nothing() -> None:
    """ResultStore.apply_retention: a dry run counts what each rule would delete, then deletes."""
    clock = FrozenClock()
    now = clock.now()
    rows = [
        TaskRecord(
            task_id=f"{status}-{name}-{age}",
            status=status,
            task_name=name,
            date_done=now - timedelta(hours=age),
        )
        for status, name, age in itertools.product(("SUCCESS", "FAILURE"), NAMES, (2, 48))
    ]
    target = _MemoryTarget(rows)
    groups = MemoryGroupRepository()
    groups.save(GroupRecord(group_id="g", result="[]", date_done=now - 10 * DAY))
    store = ResultStore(MemoryTaskRepository(), groups, MemoryChordCounterRepository(), clock)
    policy = RetentionPolicy.from_setting(
        {"SUCCESS": DAY, "tasks": {"proj.report": {"SUCCESS": HOUR}}}
    )
    rules = policy.rules(None)
    dry = store.apply_retention(target, rules, None, dry_run=True)
    assert dry.dry_run
    assert len(target.rows) == len(rows)
    # SUCCESS older than a day for each name (5), and proj.report's SUCCESS 2h old too.
    assert dry.tasks == 6
    done = store.apply_retention(target, rules, 7 * DAY)
    assert [o.rows for o in done.rules] == [o.rows for o in dry.rules]
    assert done.tasks == 6
    assert done.groups == 1
    assert done.chords == 0
    assert all(r.status == "FAILURE" or (r.date_done or now) > now - DAY for r in target.rows)
