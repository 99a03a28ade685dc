"""Key names: Celery's keys for plain ids, escaping, digests of long ids, prefix checks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given

from django_celery_results.adapters.memory_keyvalue import MemoryKeyValueStore
from django_celery_results.domain.errors import InvalidRecordError
from django_celery_results.domain.keyvalue import KeyNaming, KeyValueResultStore, escape_id
from tests.keyvalue_contract import PRINTABLE
from tests.unit.keyvalue.stores import KEY_CHARACTERS, UUID, ids

# -- key names -----------------------------------------------------------------------------


def test_plain_ids_keep_celerys_keys() -> None:
    """A UUID task id maps to Celery's own keys, so the old package's entries read back."""
    naming = KeyNaming()
    assert naming.task_key(UUID) == f"celery-task-meta-{UUID}"
    assert naming.group_key(UUID) == f"celery-taskset-meta-{UUID}"
    assert naming.chord_key(UUID) == f"chord-unlock-{UUID}"
    assert naming.final_key(UUID) == f"celery-task-final-{UUID}"
    assert naming.part_key(UUID, "t") == f"celery-chord-part-{UUID}/t"


@pytest.mark.parametrize(
    ("ident", "escaped"),
    [
        ("with space", "with%20space"),
        ("tab\there", "tab%09here"),
        ("nul\x00", "nul%00"),
        ("del\x7f", "del%7F"),
        ("100%", "100%25"),
        ("café", "caf%C3%A9"),
        ("🎉", "%F0%9F%8E%89"),
        (PRINTABLE.replace("%", ""), PRINTABLE.replace("%", "")),
    ],
)
def test_escape_id(ident: str, escaped: str) -> None:
    """Spaces, control and non-ASCII characters and ``%`` are percent-encoded, nothing else."""
    assert escape_id(ident) == escaped


@given(ids)
def test_keys_are_plain_ascii_within_the_limit(ident: str) -> None:
    """Any id gives keys of printable ASCII without spaces, at most max_length long."""
    naming = KeyNaming(max_length=120)
    for key in (
        naming.task_key(ident),
        naming.final_key(ident),
        naming.group_key(ident),
        naming.chord_key(ident),
        naming.part_key(ident, ident),
    ):
        assert set(key) <= KEY_CHARACTERS, key
        assert len(key) <= 120


@given(ids, ids)
def test_distinct_ids_never_share_a_key(first: str, second: str) -> None:
    """Escaping and digests are one-to-one: two ids have two keys (also when shortened)."""
    naming = KeyNaming(max_length=120)
    assert (naming.task_key(first) == naming.task_key(second)) == (first == second)


@given(ids, ids, ids, ids)
def test_distinct_pairs_never_share_a_part_key(g1: str, t1: str, g2: str, t2: str) -> None:
    """A part key names one (group, task) pair, whatever ``/`` the ids contain."""
    naming = KeyNaming(max_length=120)
    same_key = naming.part_key(g1, t1) == naming.part_key(g2, t2)
    assert same_key == ((g1, t1) == (g2, t2))


def test_separator_inside_ids_does_not_collide() -> None:
    """("a/b", "c") and ("a", "b/c") are different parts."""
    naming = KeyNaming()
    assert naming.part_key("a/b", "c") != naming.part_key("a", "b/c")


def test_long_ids_are_shortened_to_a_digest() -> None:
    """An id too long for the limit becomes ``%%`` and its SHA-256, within the limit."""
    naming = KeyNaming()
    key = naming.task_key("x" * 300)
    assert key.startswith("celery-task-meta-%%")
    assert len(key) == len("celery-task-meta-%%") + 64
    assert naming.task_key("x" * 300) == key
    assert naming.task_key("x" * 301) != key


def test_an_id_exactly_at_the_limit_is_kept() -> None:
    """An escaped id that just fits stays readable; one more character switches to a digest."""
    naming = KeyNaming(max_length=120)
    fits = "a" * (120 - len("celery-task-meta-"))
    assert naming.task_key(fits) == f"celery-task-meta-{fits}"
    assert "%%" in naming.task_key(fits + "a")


@pytest.mark.parametrize("ident", ["", None, True, 1.5, b"t"])
def test_empty_or_non_text_ids_are_refused(ident: Any) -> None:
    """An empty id, or one neither str, int nor UUID, raises InvalidRecordError naming the field."""
    with pytest.raises(InvalidRecordError, match="task_id"):
        KeyNaming().task_key(ident)
    with pytest.raises(InvalidRecordError, match="group_id"):
        KeyNaming().part_key(ident, "t")


@pytest.mark.parametrize(
    "ident", [123, uuid.UUID("6f1c6c3e-8d3b-4b8e-9a55-0f6f1b0d2c11")], ids=["int", "uuid"]
)
def test_int_and_uuid_ids_name_the_keys_of_their_str(ident: int | uuid.UUID) -> None:
    """An int or UUID id is the same task, group and part as its str() (issue 9, defect 3)."""
    naming = KeyNaming()
    text = str(ident)
    assert naming.task_key(ident) == naming.task_key(text) == f"celery-task-meta-{text}"
    assert naming.group_key(ident) == naming.group_key(text)
    assert naming.part_key(ident, ident) == naming.part_key(text, text)
    results = KeyValueResultStore(MemoryKeyValueStore())
    results.store_meta(ident, {"status": "SUCCESS", "result": 1}, None)
    assert results.get_meta(text) == {"status": "SUCCESS", "result": 1}
    assert results.get_metas([ident]) == {text: {"status": "SUCCESS", "result": 1}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task_prefix": "with space-"}, "task_prefix"),
        ({"group_prefix": ""}, "group_prefix"),
        ({"chord_prefix": "pct%-"}, "chord_prefix"),
        ({"final_prefix": "celery-task-meta-"}, "must differ"),
        ({"part_prefix": "celery-task-meta-x-"}, "could collide"),
        ({"max_length": 80}, "no room"),
        ({"max_length": 0}, "max_length"),
    ],
)
def test_naming_validates_its_prefixes(changes: dict[str, Any], message: str) -> None:
    """Unsafe, equal or overlapping prefixes and a limit with no room are refused."""
    with pytest.raises(InvalidRecordError, match=message):
        KeyNaming(**changes)
