"""The ``KeyValueStore`` contract (domain/ports.py), written once and run against every store.

A concrete test class subclasses ``KeyValueStoreContract`` and provides the fixture ``kv``: the
store under test. Stores may be shared servers (Redis, memcached) that other runs use too, so
the contract never clears a store: every test names its keys through the ``key`` fixture, which
makes them unique to the test and deletes them afterwards.

A capability a store lacks (``atomic_increment``, ``atomic_add``) is declared on the store and
the race test skips with the reason. The class name does not start with ``Test`` so pytest
collects only the concrete subclasses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from django_celery_results.domain.errors import PermanentStorageError
from django_celery_results.domain.keyvalue import CHORD_COUNT_FLOOR
from django_celery_results.domain.ports import KeyValueStore
from tests.contract.support import ThreadedContract

__all__ = [
    "PRINTABLE",
    "BoomError",
    "KeyFactory",
    "KeyValueStoreContract",
]

KeyFactory = Callable[[str], str]

#: Every character a key may hold unescaped (printable ASCII but space).
PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))


class BoomError(Exception):
    """An exception with arguments, as a failed task's result is stored."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.code = code


class KeyValueStoreContract(ThreadedContract):
    """The ``KeyValueStore`` contract; needs a ``kv`` fixture returning the store."""

    @pytest.fixture
    def key(self, kv: KeyValueStore) -> Iterator[KeyFactory]:
        """Makes keys unique to this test; deletes them all when the test ends."""
        namespace = uuid.uuid4().hex[:12]
        made: list[str] = []

        def make(name: str) -> str:
            made.append(f"kv-{namespace}-{name}")
            return made[-1]

        yield make
        if made:
            kv.delete_many(made)

    # -- get / set -----------------------------------------------------------------------

    def test_get_absent_is_none(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """get() of a key never set returns None."""
        assert kv.get(key("absent")) is None

    def test_round_trip_a_task_meta(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """A Celery meta with an exception, an aware datetime and bytes reads back equal."""
        done = datetime(2024, 5, 17, 12, 34, 56, 789012, tzinfo=timezone(timedelta(hours=2)))
        meta = {
            "status": "FAILURE",
            "result": BoomError("naïve café 🎉", 7),
            "traceback": "Traceback (most recent call last):\n  ...\n",
            "children": [[["child-1", None], None]],
            "date_done": done,
            "payload": b"\x00\xff binary",
        }
        kv.set(key("meta"), meta, 60)
        stored = kv.get(key("meta"))
        assert isinstance(stored, dict)
        exc = stored.pop("result")
        assert type(exc) is BoomError
        assert exc.args == ("naïve café 🎉", 7)
        assert exc.code == 7
        assert stored == {k: v for k, v in meta.items() if k != "result"}
        assert stored["date_done"].utcoffset() == timedelta(hours=2)

    @pytest.mark.parametrize(
        "value",
        [0, 1, -5, CHORD_COUNT_FLOOR + 200, "text", "", b"", [1, "a"], {"nested": {"x": None}}],
        ids=repr,
    )
    def test_round_trip_plain_values(self, kv: KeyValueStore, key: KeyFactory, value: Any) -> None:
        """Integers, text, bytes and containers read back equal and of the same type."""
        kv.set(key("v"), value, 60)
        stored = kv.get(key("v"))
        assert stored == value
        assert type(stored) is type(value)

    def test_large_value(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """A 200 KB result is stored whole."""
        value = {"status": "SUCCESS", "result": "r" * 200_000}
        kv.set(key("large"), value, 60)
        assert kv.get(key("large")) == value

    def test_set_replaces(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """set() replaces whatever the key held."""
        kv.set(key("k"), "old", 60)
        kv.set(key("k"), "new", None)
        assert kv.get(key("k")) == "new"

    def test_stored_value_is_a_copy(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """Changing a value after set() changes nothing stored (values are serialized)."""
        value: dict[str, list[str]] = {"children": []}
        kv.set(key("k"), value, 60)
        value["children"].append("later")
        assert kv.get(key("k")) == {"children": []}

    def test_zero_timeout_is_refused(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """A timeout of 0 is refused, not read as Django's "do not store" (None: forever)."""
        with pytest.raises(ValueError, match="timeout"):
            kv.set(key("k"), 1, 0)
        with pytest.raises(ValueError, match="timeout"):
            kv.add(key("k"), 1, 0)
        assert kv.get(key("k")) is None

    # -- get_many ------------------------------------------------------------------------

    def test_get_many_returns_only_stored_keys(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """get_many() maps each stored key to its value and leaves absent keys out."""
        kv.set(key("a"), {"status": "SUCCESS"}, 60)
        kv.set(key("b"), 2, None)
        found = kv.get_many([key("a"), key("b"), key("absent")])
        assert dict(found) == {key("a"): {"status": "SUCCESS"}, key("b"): 2}

    def test_get_many_of_nothing(self, kv: KeyValueStore) -> None:
        """get_many() of no keys is an empty mapping."""
        assert dict(kv.get_many([])) == {}

    def test_get_many_of_many_keys(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """get_many() reads 400 keys at once (a group of 200 tasks, two keys each)."""
        names = [key(f"n{i}") for i in range(400)]
        for index, name in enumerate(names[::2]):
            kv.set(name, index, 60)
        found = kv.get_many(names)
        assert dict(found) == {name: index for index, name in enumerate(names[::2])}

    # -- add -----------------------------------------------------------------------------

    def test_add_stores_when_absent(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """add() of an absent key stores the value and returns True."""
        assert kv.add(key("k"), "first", 60) is True
        assert kv.get(key("k")) == "first"

    def test_add_keeps_a_stored_value(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """add() of a stored key changes nothing and returns False."""
        kv.set(key("k"), "first", None)
        assert kv.add(key("k"), "second", 60) is False
        assert kv.get(key("k")) == "first"

    def test_concurrent_adds_exactly_one_wins(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """Of 8 racing add() calls for one key exactly one stores its value."""
        if not kv.atomic_add:
            pytest.skip(f"{type(kv).__name__} declares atomic_add = False")
        name = key("race")
        tokens = iter(range(1000))

        def add_one() -> tuple[bool, int]:
            token = next(tokens)
            return kv.add(name, token, 60), token

        outcomes = self.run_concurrently(8, add_one)
        winners = [token for added, token in outcomes if added]
        assert len(winners) == 1, outcomes
        assert kv.get(name) == winners[0]

    # -- delete --------------------------------------------------------------------------

    def test_delete(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """delete() removes a key; deleting an absent key is not an error."""
        kv.set(key("k"), 1, 60)
        kv.delete(key("k"))
        assert kv.get(key("k")) is None
        kv.delete(key("k"))

    def test_delete_many(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """delete_many() removes every key given, absent ones included, and no other."""
        for name in ("a", "b", "c"):
            kv.set(key(name), name, 60)
        kv.delete_many([key("a"), key("b"), key("absent")])
        kv.delete_many([])
        assert dict(kv.get_many([key("a"), key("b"), key("c")])) == {key("c"): "c"}

    # -- incr ----------------------------------------------------------------------------

    def test_incr_adds_and_returns_the_new_value(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """incr() adds delta (1 by default, negative to subtract) and returns the result."""
        kv.set(key("n"), 10, 60)
        assert kv.incr(key("n")) == 11
        assert kv.incr(key("n"), 5) == 16
        assert kv.incr(key("n"), -3) == 13
        assert kv.get(key("n")) == 13

    def test_incr_counts_down_from_the_chord_floor(
        self, kv: KeyValueStore, key: KeyFactory
    ) -> None:
        """A counter far above 2**32 decrements exactly (the chord counter's range)."""
        kv.set(key("n"), CHORD_COUNT_FLOOR + 2, None)
        assert kv.incr(key("n"), -1) == CHORD_COUNT_FLOOR + 1
        assert kv.incr(key("n"), -1) == CHORD_COUNT_FLOOR
        assert kv.incr(key("n"), -1) == CHORD_COUNT_FLOOR - 1

    def test_incr_of_absent_key_is_none(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """incr() of an absent key returns None and creates nothing."""
        assert kv.incr(key("absent"), -1) is None
        assert kv.get(key("absent")) is None

    def test_incr_of_non_integer_is_a_permanent_error(
        self, kv: KeyValueStore, key: KeyFactory
    ) -> None:
        """incr() of a value that is not an integer raises PermanentStorageError."""
        kv.set(key("k"), {"status": "SUCCESS"}, 60)
        with pytest.raises(PermanentStorageError):
            kv.incr(key("k"))

    def test_concurrent_increments_are_atomic(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """8 threads x 25 decrements: each sees a distinct value and none is lost."""
        if not kv.atomic_increment:
            pytest.skip(f"{type(kv).__name__} declares atomic_increment = False")
        name = key("counter")
        kv.set(name, CHORD_COUNT_FLOOR + 200, 60)

        def count_down() -> list[int | None]:
            return [kv.incr(name, -1) for _ in range(25)]

        seen = [value for values in self.run_concurrently(8, count_down) for value in values]
        assert sorted(seen, key=lambda v: v or 0) == list(
            range(CHORD_COUNT_FLOOR, CHORD_COUNT_FLOOR + 200)
        )
        assert kv.get(name) == CHORD_COUNT_FLOOR

    # -- touch and expiry ----------------------------------------------------------------

    def test_touch_reports_whether_the_key_exists(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """touch() of a stored key returns True and keeps its value; of an absent key False."""
        kv.set(key("k"), "v", 60)
        assert kv.touch(key("k"), None) is True
        assert kv.get(key("k")) == "v"
        assert kv.touch(key("absent"), 60) is False

    def test_timeouts_expire_and_none_keeps(self, kv: KeyValueStore, key: KeyFactory) -> None:
        """Keys set, added or touched with 1 s are gone after it; timeout None keeps its key."""
        kv.set(key("set"), 1, 1)
        assert kv.add(key("added"), 1, 1)
        kv.set(key("touched"), 1, None)
        assert kv.touch(key("touched"), 1)
        kv.set(key("kept"), 1, 60)
        assert kv.touch(key("kept"), None)
        kv.set(key("forever"), 1, None)
        # memcached counts expiry in whole seconds of its own clock.
        time.sleep(2.2)
        found = kv.get_many([key(n) for n in ("set", "added", "touched", "kept", "forever")])
        assert set(found) == {key("kept"), key("forever")}

    # -- keys ----------------------------------------------------------------------------

    def test_max_key_length_is_declared(self, kv: KeyValueStore) -> None:
        """max_key_length leaves room for a prefix and a 64-character digest."""
        assert 100 <= kv.max_key_length <= 250

    def test_longest_key_and_every_printable_character(
        self, kv: KeyValueStore, key: KeyFactory
    ) -> None:
        """A key of max_key_length characters, all printable ASCII, is stored unchanged."""
        start = key("")
        name = (start + PRINTABLE * 3)[: kv.max_key_length]
        assert len(name) == kv.max_key_length
        key(name[len(start) :])  # registers it for clean-up
        kv.set(name, "v", 60)
        assert kv.get(name) == "v"
        assert dict(kv.get_many([name])) == {name: "v"}
