"""Retention: how long task results are kept, per state and per task name.

``DJANGO_CELERY_RESULTS_RETENTION`` is read by ``RetentionPolicy.from_setting``; its shape::

    {
        "SUCCESS": timedelta(days=1),  # a state: how long its results are kept
        "FAILURE": "30d",  # seconds (int/float), a timedelta or "<n><s|m|h|d|w>"
        "REVOKED": None,  # None: kept for ever
        "default": timedelta(days=7),  # every other state (and groups, chord counters)
        "tasks": {  # per task name, the same keys again
            "proj.tasks.report": {"SUCCESS": 3600, "default": "2d"},
        },
    }

A key left out falls back, for a task ``T`` in state ``S``: ``tasks[T][S]``, then
``tasks[T]["default"]``, then ``[S]``, then ``["default"]``, then Celery's ``result_expires``
(which, when 0 or None, keeps results for ever, as without the setting). Without the setting
every result follows ``result_expires``, exactly as before.

The policy becomes ``RetentionRule`` s: disjoint selections of (state, task name) with the age
after which their rows go, so that each row is deleted by exactly one rule, and a storage can
delete each rule's rows with one filtered statement (or bounded batches of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import attrs

__all__ = [
    "DEFAULT_KEY",
    "TASKS_KEY",
    "ProgressCallback",
    "RetentionPolicy",
    "RetentionRule",
    "RetentionTarget",
    "Selection",
    "format_duration",
    "narrowed",
    "parse_duration",
]

#: The key of the age for every state the mapping does not name.
DEFAULT_KEY = "default"
#: The key of the per-task-name mappings.
TASKS_KEY = "tasks"

#: A Celery state name (custom states included): upper-case letters, digits and underscores.
_STATE_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: An age: how long to keep; None keeps for ever.
Age = timedelta | None


def parse_duration(value: object, where: str) -> timedelta:
    """``value`` as a positive duration: seconds, a ``timedelta`` or text such as ``"7d"``.

    Units: ``s``, ``m``, ``h``, ``d``, ``w`` (none: seconds). Raises ``ValueError`` naming
    ``where`` and the limit for anything else, zero and negative durations included.
    """
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
            raise ValueError(f"{where}: must be a finite duration, got {value!r}")
        age = timedelta(seconds=value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"{where}: {value!r} is not a duration (a number followed by s, m, h, d or w, "
                f"e.g. '7d')"
            )
        age = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    else:
        raise ValueError(
            f"{where}: must be seconds, a timedelta, a text such as '7d', or None to keep for "
            f"ever; got {type(value).__name__} {value!r}"
        )
    if age <= timedelta(0):
        raise ValueError(
            f"{where}: must be more than 0 seconds (None keeps for ever), got {value!r}"
        )
    return age


def format_duration(age: timedelta) -> str:
    """``age`` in the largest unit that divides it exactly: ``7d``, ``36h``, ``90s``..."""
    seconds = age.total_seconds()
    for unit in ("w", "d", "h", "m"):
        count = seconds / _UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"


def _age(value: object, where: str) -> Age:
    return None if value is None else parse_duration(value, where)


def _state_ages(value: object, where: str, *, allow_tasks: bool) -> tuple[dict[str, Age], object]:
    """A mapping of state -> age (with ``default``), and its ``tasks`` entry if allowed."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a dict, got {type(value).__name__}")
    ages: dict[str, Age] = {}
    tasks: object = None
    for key, item in value.items():
        if allow_tasks and key == TASKS_KEY:
            tasks = item
            continue
        if not isinstance(key, str) or not (key == DEFAULT_KEY or _STATE_NAME.match(key)):
            allowed = f"'{DEFAULT_KEY}'" + (f", '{TASKS_KEY}'" if allow_tasks else "")
            raise ValueError(
                f"{where}[{key!r}]: unknown key; use a state name in capitals (e.g. 'SUCCESS'), "
                f"or {allowed}"
            )
        ages[key] = _age(item, f"{where}[{key!r}]")
    return ages, tasks


@attrs.frozen
class Selection:
    """Which task rows a rule covers: states and task names, each included or excluded.

    ``states=None`` means any state but ``except_states``; ``task_names=None`` any task name
    (rows with no name included) but ``except_task_names``.
    """

    states: frozenset[str] | None = None
    except_states: frozenset[str] = frozenset()
    task_names: frozenset[str] | None = None
    except_task_names: frozenset[str] = frozenset()

    def matches(self, state: str, task_name: str | None) -> bool:
        """Whether a row in ``state`` of task ``task_name`` is selected."""
        if self.states is not None and state not in self.states:
            return False
        if state in self.except_states:
            return False
        if self.task_names is not None and task_name not in self.task_names:
            return False
        return task_name is None or task_name not in self.except_task_names

    def describe(self) -> tuple[str, str]:
        """(states, task names) as short text for reports, e.g. ``("SUCCESS", "*")``."""
        return (
            _describe(self.states, self.except_states),
            _describe(self.task_names, self.except_task_names),
        )


def _describe(included: frozenset[str] | None, excluded: frozenset[str]) -> str:
    if included is not None:
        return ",".join(sorted(included))
    if excluded:
        return "* except " + ",".join(sorted(excluded))
    return "*"


@attrs.frozen
class RetentionRule:
    """Rows of ``selection`` are deleted once older than ``keep`` (by ``date_done``)."""

    selection: Selection
    keep: timedelta

    def cutoff(self, now: datetime) -> datetime:
        """The ``date_done`` before which this rule's rows go."""
        return now - self.keep


class ProgressCallback(Protocol):
    """Told the rows deleted so far by the current rule, after each batch."""

    def __call__(self, deleted: int) -> None:
        """``deleted``: the running total of the rule being applied."""


class RetentionTarget(Protocol):
    """Where retention counts and deletes task rows by selection and date, never loading all.

    Contract:
    - ``count_done_before(selection, cutoff)`` counts the task rows the selection matches
      whose ``date_done`` is before ``cutoff``;
    - ``delete_done_before(selection, cutoff, batch_size, progress)`` deletes them, at most
      ``batch_size`` rows per statement (None: the storage's own steps) and holding at most
      one batch of ids in memory; it returns how many it deleted and calls ``progress`` (if
      given) with the running total after each batch;
    - ``count_groups_before(cutoff)`` / ``count_chords_before(cutoff)`` count the group
      results done before ``cutoff`` and the chord counters created before it.
    """

    def count_done_before(self, selection: Selection, cutoff: datetime) -> int:
        """Task rows of ``selection`` done before ``cutoff``."""
        ...

    def delete_done_before(
        self,
        selection: Selection,
        cutoff: datetime,
        batch_size: int | None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Delete the task rows of ``selection`` done before ``cutoff``; how many went."""
        ...

    def count_groups_before(self, cutoff: datetime) -> int:
        """Group results done before ``cutoff``."""
        ...

    def count_chords_before(self, cutoff: datetime) -> int:
        """Chord counters created before ``cutoff``."""
        ...


@attrs.frozen
class RetentionPolicy:
    """How long task results are kept, per state and per task name.

    Attributes:
        ages: state name (or ``"default"``) -> age; None keeps for ever; a missing key falls
            back as the module docstring says.
        tasks: task name -> the same mapping for that task's results.
    """

    ages: Mapping[str, Age] = attrs.field(factory=dict)
    tasks: Mapping[str, Mapping[str, Age]] = attrs.field(factory=dict)

    @classmethod
    def from_setting(
        cls, value: object, name: str = "DJANGO_CELERY_RESULTS_RETENTION"
    ) -> RetentionPolicy:
        """Parse the setting's value (None: no policy, ``result_expires`` for everything).

        Raises ``ValueError`` naming the offending key and the limit it breaks.
        """
        if value is None:
            return cls()
        ages, tasks = _state_ages(value, name, allow_tasks=True)
        per_task: dict[str, Mapping[str, Age]] = {}
        if tasks is not None:
            where = f"{name}[{TASKS_KEY!r}]"
            if not isinstance(tasks, Mapping):
                raise ValueError(
                    f"{where}: must be a dict of task name -> dict, got {type(tasks).__name__}"
                )
            for task_name, task_value in tasks.items():
                if not isinstance(task_name, str) or not task_name:
                    raise ValueError(
                        f"{where}: task names must be non-empty text, got {task_name!r}"
                    )
                per_task[task_name], _ = _state_ages(
                    task_value, f"{where}[{task_name!r}]", allow_tasks=False
                )
        return cls(ages=ages, tasks=per_task)

    @property
    def is_empty(self) -> bool:
        """True without the setting: every result follows ``result_expires``."""
        return not self.ages and not self.tasks

    def default_age(self, result_expires: Age) -> Age:
        """The age of results no key names (and of groups and chord counters)."""
        return self.ages.get(DEFAULT_KEY, result_expires)

    def age_of(self, state: str, task_name: str | None, result_expires: Age) -> Age:
        """How long a result of ``task_name`` in ``state`` is kept (None: for ever)."""
        task_ages = self.tasks.get(task_name) if task_name is not None else None
        if task_ages is not None:
            if state in task_ages:
                return task_ages[state]
            if DEFAULT_KEY in task_ages:
                return task_ages[DEFAULT_KEY]
        if state in self.ages:
            return self.ages[state]
        return self.default_age(result_expires)

    def override(
        self,
        *,
        ages: Mapping[str, Age] | None = None,
        task_ages: Mapping[str, Mapping[str, Age]] | None = None,
    ) -> RetentionPolicy:
        """This policy with some keys replaced (the command line's overrides)."""
        tasks = dict(self.tasks)
        for task_name, overrides in (task_ages or {}).items():
            tasks[task_name] = {**tasks.get(task_name, {}), **overrides}
        return RetentionPolicy(ages={**self.ages, **(ages or {})}, tasks=tasks)

    def rules(self, result_expires: Age) -> list[RetentionRule]:
        """Disjoint rules covering every (state, task name); kept-for-ever ones left out."""
        global_states = frozenset(k for k in self.ages if k != DEFAULT_KEY)
        named = frozenset(self.tasks)
        rules: list[RetentionRule] = []

        def add(selection: Selection, age: Age) -> None:
            if age is not None:
                rules.append(RetentionRule(selection, age))

        for task_name in sorted(named):
            ages = self.tasks[task_name]
            own = frozenset(k for k in ages if k != DEFAULT_KEY)
            only = frozenset({task_name})
            for state in sorted(own):
                add(Selection(states=frozenset({state}), task_names=only), ages[state])
            if DEFAULT_KEY in ages:
                add(Selection(except_states=own, task_names=only), ages[DEFAULT_KEY])
                continue
            for state in sorted(global_states - own):
                add(Selection(states=frozenset({state}), task_names=only), self.ages[state])
            rest = Selection(except_states=own | global_states, task_names=only)
            add(rest, self.default_age(result_expires))
        for state in sorted(global_states):
            add(Selection(states=frozenset({state}), except_task_names=named), self.ages[state])
        add(
            Selection(except_states=global_states, except_task_names=named),
            self.default_age(result_expires),
        )
        return rules


def narrowed(
    rules: Iterable[RetentionRule], states: frozenset[str] | None, task_names: frozenset[str] | None
) -> list[RetentionRule]:
    """``rules`` restricted to ``states`` and ``task_names`` (None: no restriction)."""
    narrowed = []
    for rule in rules:
        selection = rule.selection
        if states is not None:
            kept = states if selection.states is None else selection.states & states
            kept = kept - selection.except_states
            if not kept:
                continue
            selection = attrs.evolve(selection, states=frozenset(kept), except_states=frozenset())
        if task_names is not None:
            names = (
                task_names if selection.task_names is None else selection.task_names & task_names
            )
            names = names - selection.except_task_names
            if not names:
                continue
            selection = attrs.evolve(
                selection, task_names=frozenset(names), except_task_names=frozenset()
            )
        narrowed.append(RetentionRule(selection, rule.keep))
    return narrowed
