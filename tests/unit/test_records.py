"""Validation and behaviour of the value objects in ``domain.records``."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_celery_results.domain import states
from django_celery_results.domain.errors import InvalidRecordError, ResultBackendError
from django_celery_results.domain.records import (
    DEFAULT_ID_MAX_LENGTH,
    ChordCounter,
    FieldLimits,
    GroupRecord,
    TaskRecord,
    storable_text,
)

AWARE = datetime(2024, 5, 17, 12, 0, 0, 1, tzinfo=timezone.utc)
NAIVE = datetime(2024, 5, 17, 12, 0, 0, 1)

#: The limited text fields of a task record and the FieldLimits attribute that bounds each.
TASK_LIMITED_FIELDS = [
    ("task_id", "id"),
    ("status", "status"),
    ("task_name", "task_name"),
    ("periodic_task_name", "periodic_task_name"),
    ("worker", "worker"),
    ("content_type", "content_type"),
    ("content_encoding", "content_encoding"),
]
GROUP_LIMITED_FIELDS = [
    ("group_id", "id"),
    ("content_type", "content_type"),
    ("content_encoding", "content_encoding"),
]


def task(**fields: Any) -> TaskRecord:
    """A task record with id "t" unless ``fields`` says otherwise."""
    return TaskRecord(**{"task_id": "t", **fields})


def group(**fields: Any) -> GroupRecord:
    """A group record with id "g" unless ``fields`` says otherwise."""
    return GroupRecord(**{"group_id": "g", **fields})


def raises_for(field: str) -> Any:
    """A ``pytest.raises`` context for an InvalidRecordError whose message starts with ``field``."""
    return pytest.raises(InvalidRecordError, match=rf"^{field}: ")


# -- TaskRecord ------------------------------------------------------------------------------


def test_task_defaults() -> None:
    """A task record needs only an id: PENDING, empty content fields, everything else None."""
    record = TaskRecord(task_id="t")
    assert record.status == states.PENDING
    assert (record.content_type, record.content_encoding) == ("", "")
    optional = [f.name for f in attrs.fields(TaskRecord)][4:]
    assert all(getattr(record, name) is None for name in optional), optional


def test_task_is_frozen() -> None:
    """Records are immutable; a change makes a new record."""
    record = TaskRecord(task_id="t")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.status = states.SUCCESS  # type: ignore[misc]
    changed = attrs.evolve(record, status=states.SUCCESS)
    assert (record.status, changed.status) == (states.PENDING, states.SUCCESS)


def test_task_is_keyword_only() -> None:
    """Fields are keyword-only, so a positional mix-up cannot swap two text fields."""
    with pytest.raises(TypeError):
        TaskRecord("t")  # type: ignore[call-arg]


def test_task_records_compare_by_value() -> None:
    """Two records with equal fields are equal and hash alike."""
    a = TaskRecord(task_id="t", status=states.SUCCESS, date_done=AWARE)
    b = TaskRecord(task_id="t", status=states.SUCCESS, date_done=AWARE)
    assert a == b
    assert hash(a) == hash(b)


@pytest.mark.parametrize("bad", ["", b"", None, 12.5, True, ["t"]])
def test_task_id_must_be_non_empty_string(bad: Any) -> None:
    """An empty id, or one that is no str, bytes, int or UUID, is refused naming task_id."""
    with raises_for("task_id"):
        TaskRecord(task_id=bad)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (0, "0"),
        (123456789, "123456789"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"t-1", "t-1"),
        ("t-2", "t-2"),
    ],
)
def test_ids_are_kept_as_their_text(given: Any, stored: str) -> None:
    """int, UUID and bytes ids become their text, as the old package stored ``str(id)``."""
    assert TaskRecord(task_id=given).task_id == stored
    assert GroupRecord(group_id=given).group_id == stored
    assert ChordCounter(group_id=given).group_id == stored


def test_lone_surrogates_are_escaped_in_every_text_field() -> None:
    """A lone surrogate (undecodable file name) is escaped, never dropped or left to fail."""
    bad = os.fsdecode(b"bad\xffname")
    fields = ["result", "traceback", "meta", "task_name", "task_args", "task_kwargs", "worker"]
    texts: dict[str, Any] = dict.fromkeys(fields, bad)
    record = TaskRecord(task_id=f"t-{bad}", periodic_task_name=bad, **texts)
    for name in [*fields, "periodic_task_name"]:
        assert getattr(record, name) == "bad\\udcffname", name
    assert record.task_id == "t-bad\\udcffname"
    assert GroupRecord(group_id="g", result=bad).result == "bad\\udcffname"
    assert ChordCounter(group_id="g", sub_tasks=bad).sub_tasks == "bad\\udcffname"


@given(st.text())
def test_storable_text_always_encodes_and_keeps_valid_text(text: str) -> None:
    """Escaped text always encodes as UTF-8; text that already did is returned unchanged."""
    escaped = storable_text(text)
    escaped.encode("utf-8")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert escaped != text
    else:
        assert escaped is text


@pytest.mark.parametrize("bad", ["", None, 1, b"SUCCESS"])
def test_status_must_be_non_empty_string(bad: Any) -> None:
    """An empty or non-string status is refused with an error naming status."""
    with raises_for("status"):
        TaskRecord(task_id="t", status=bad)


@pytest.mark.parametrize("field", ["date_created", "date_started", "date_done"])
def test_task_dates_must_be_aware(field: str) -> None:
    """A naive datetime in any date field is refused with an error naming the field."""
    with raises_for(field) as info:
        task(**{field: NAIVE})
    assert "naive" in str(info.value)


@pytest.mark.parametrize("field", ["date_created", "date_started", "date_done"])
def test_task_dates_in_any_offset(field: str) -> None:
    """Aware datetimes in any UTC offset are accepted as given."""
    value = AWARE.astimezone(timezone(timedelta(hours=-3)))
    assert getattr(task(**{field: value}), field) == value


def test_evolve_validates_too() -> None:
    """attrs.evolve runs the validators, so no invalid record can be derived from a valid one."""
    with raises_for("date_done"):
        attrs.evolve(TaskRecord(task_id="t"), date_done=NAIVE)


@pytest.mark.parametrize("status", list(states.READY_STATES))
def test_ready_records(status: str) -> None:
    """is_ready is true for a record in SUCCESS, FAILURE or REVOKED."""
    assert TaskRecord(task_id="t", status=status).is_ready


@pytest.mark.parametrize(
    "status", [states.PENDING, states.STARTED, states.RETRY, states.RECEIVED, "PROGRESS"]
)
def test_unready_records(status: str) -> None:
    """is_ready is false for unfinished and custom states."""
    assert not TaskRecord(task_id="t", status=status).is_ready


# -- GroupRecord and ChordCounter ------------------------------------------------------------


def test_group_defaults() -> None:
    """A group record needs only an id."""
    record = GroupRecord(group_id="g")
    assert (record.content_type, record.content_encoding, record.result) == ("", "", None)
    assert (record.date_created, record.date_done) == (None, None)


@pytest.mark.parametrize("bad", ["", None, 3.0])
def test_group_id_must_be_non_empty_string(bad: Any) -> None:
    """An empty or non-string group_id is refused with an error naming group_id."""
    with raises_for("group_id"):
        GroupRecord(group_id=bad)


@pytest.mark.parametrize("field", ["date_created", "date_done"])
def test_group_dates_must_be_aware(field: str) -> None:
    """A naive date on a group is refused with an error naming the field."""
    with raises_for(field):
        group(**{field: NAIVE})


@pytest.mark.parametrize("bad", [-1, True, False, 1.0, "3", None])
def test_chord_count_must_be_whole_number(bad: Any) -> None:
    """A negative, boolean or non-int count is refused with an error naming count."""
    with raises_for("count"):
        ChordCounter(group_id="c", count=bad)


@pytest.mark.parametrize("bad", ["", None])
def test_chord_group_id_must_be_non_empty(bad: Any) -> None:
    """A chord counter needs a group id."""
    with raises_for("group_id"):
        ChordCounter(group_id=bad)


@given(st.integers(min_value=0, max_value=10_000))
def test_chord_decrement(count: int) -> None:
    """decrement() returns a new counter one lower (never below 0) and leaves the old one."""
    counter = ChordCounter(group_id="c", sub_tasks="[]", count=count)
    after = counter.decrement()
    assert after.count == max(count - 1, 0)
    assert (after.group_id, after.sub_tasks) == ("c", "[]")
    assert counter.count == count


def test_chord_is_done_only_at_zero() -> None:
    """is_done is true exactly when the count is 0."""
    assert ChordCounter(group_id="c", count=0).is_done
    assert not ChordCounter(group_id="c", count=1).is_done
    assert ChordCounter(group_id="c", count=1).decrement().is_done


# -- FieldLimits -----------------------------------------------------------------------------


def test_default_limits_are_the_schema_widths() -> None:
    """The default limits are the old package's column widths."""
    assert FieldLimits() == FieldLimits(
        id=DEFAULT_ID_MAX_LENGTH,
        task_name=255,
        periodic_task_name=255,
        worker=100,
        status=50,
        content_type=128,
        content_encoding=64,
    )
    assert DEFAULT_ID_MAX_LENGTH == 255


@pytest.mark.parametrize(("field", "limit_name"), TASK_LIMITED_FIELDS)
def test_check_task_accepts_value_at_limit(field: str, limit_name: str) -> None:
    """A value exactly as long as the limit passes (limits count characters, not bytes)."""
    limits = FieldLimits()
    value = "🎉" * getattr(limits, limit_name)
    limits.check_task(task(**{field: value}))


@pytest.mark.parametrize(("field", "limit_name"), TASK_LIMITED_FIELDS)
def test_check_task_refuses_value_over_limit(field: str, limit_name: str) -> None:
    """One character over the limit is refused, naming the field, the length and the limit."""
    limits = FieldLimits()
    limit = getattr(limits, limit_name)
    record = task(**{field: "x" * (limit + 1)})
    with raises_for(field) as info:
        limits.check_task(record)
    assert info.value.field == field
    message = str(info.value)
    assert f"{limit + 1} characters" in message
    assert f"limit of {limit}" in message


@pytest.mark.parametrize(("field", "limit_name"), TASK_LIMITED_FIELDS)
def test_check_task_uses_custom_limits(field: str, limit_name: str) -> None:
    """A storage's own limits (e.g. a longer id column) are the ones checked."""
    limits = FieldLimits(**{limit_name: 3})
    limits.check_task(task(**{field: "abc"}))
    with raises_for(field):
        limits.check_task(task(**{field: "abcd"}))


def test_check_task_message_names_the_record_and_shortens() -> None:
    """The message names the record's id and shows a shortened value, not 10 000 characters."""
    record = TaskRecord(task_id="the-task-id", worker="w" * 10_000)
    with raises_for("worker") as info:
        FieldLimits().check_task(record)
    message = str(info.value)
    assert "'the-task-id'" in message
    assert "www..." in message
    assert len(message) < 300


def test_check_task_reports_the_first_field() -> None:
    """With several fields too long, the error names the first in declaration order."""
    record = TaskRecord(task_id="i" * 300, worker="w" * 300)
    with raises_for("task_id"):
        FieldLimits().check_task(record)


@pytest.mark.parametrize("field", ["result", "traceback", "meta", "task_args", "task_kwargs"])
def test_check_task_does_not_limit_text_columns(field: str) -> None:
    """Unbounded text fields (result, traceback, meta, args, kwargs) have no length limit."""
    FieldLimits().check_task(task(**{field: "x" * 1_000_000}))


@pytest.mark.parametrize(("field", "limit_name"), GROUP_LIMITED_FIELDS)
def test_check_group_limits(field: str, limit_name: str) -> None:
    """check_group() accepts a value at the limit and refuses one over it, naming the field."""
    limits = FieldLimits()
    limit = getattr(limits, limit_name)
    limits.check_group(group(**{field: "x" * limit}))
    with raises_for(field):
        limits.check_group(group(**{field: "x" * (limit + 1)}))


def test_check_group_does_not_limit_result() -> None:
    """A group's result text has no length limit."""
    FieldLimits().check_group(GroupRecord(group_id="g", result="x" * 1_000_000))


def test_check_id() -> None:
    """check_id() bounds any id by the id limit and names the field it was given."""
    limits = FieldLimits(id=5)
    limits.check_id("group_id", "abcde")
    with raises_for("group_id"):
        limits.check_id("group_id", "abcdef")


@given(st.text(max_size=80), st.integers(min_value=1, max_value=80))
def test_check_accepts_exactly_the_values_within_limit(value: str, limit: int) -> None:
    """For any text and limit, a check passes if and only if len(value) <= limit."""
    limits = FieldLimits(worker=limit)
    record = TaskRecord(task_id="t", worker=value)
    if len(value) <= limit:
        limits.check_task(record)
    else:
        with raises_for("worker"):
            limits.check_task(record)


def test_invalid_record_error_is_a_value_error() -> None:
    """InvalidRecordError is both a ResultBackendError and a ValueError, with .field set."""
    error = InvalidRecordError("worker", "too long")
    assert isinstance(error, ResultBackendError)
    assert isinstance(error, ValueError)
    assert (error.field, str(error)) == ("worker", "worker: too long")
