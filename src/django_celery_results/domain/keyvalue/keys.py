"""The keys of the key-value results: their prefixes and how an id becomes a key.

Keys are plain ASCII that every Django cache accepts: ids with spaces, control or non-ASCII
characters are percent-encoded (``escape_id``), and keys too long for memcached are shortened
to a digest (``KeyNaming``). Ids given as ints or UUIDs are their ``str()`` (``id_text``).
"""

from __future__ import annotations

import hashlib
from typing import Final

import attrs

from ..errors import InvalidRecordError
from ..records import Ident, id_text

__all__ = [
    "CHORD_PREFIX",
    "DEFAULT_MAX_KEY_LENGTH",
    "FINAL_PREFIX",
    "GROUP_PREFIX",
    "PART_PREFIX",
    "RECOVERY_PREFIX",
    "TASK_PREFIX",
    "KeyNaming",
    "escape_id",
]

#: Celery's key prefixes (``BaseKeyValueStoreBackend``), kept so existing entries read back.
TASK_PREFIX: Final[str] = "celery-task-meta-"
GROUP_PREFIX: Final[str] = "celery-taskset-meta-"
CHORD_PREFIX: Final[str] = "chord-unlock-"
#: Ours: the first SUCCESS of a task, and the header tasks a chord has counted.
FINAL_PREFIX: Final[str] = "celery-task-final-"
PART_PREFIX: Final[str] = "celery-chord-part-"
#: Ours: what chord recovery needs (a chord's callback, its claim, the index of chords).
RECOVERY_PREFIX: Final[str] = "celery-chord-recovery-"

#: memcached's key limit; the database cache's key column is 255, so this suits every cache.
DEFAULT_MAX_KEY_LENGTH: Final = 250

#: Characters kept as they are in keys: printable ASCII but the space and ``%`` (the escape).
_KEPT: Final = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"%"}
#: Marks a digest in a key; never produced by escaping, where ``%`` is followed by hex digits.
_DIGEST_MARK: Final = "%%"
_DIGEST_LENGTH: Final = 64  # sha256 in hex


def escape_id(ident: str, *, also: str = "") -> str:
    """``ident`` with every character a cache key may not hold percent-encoded (UTF-8 bytes).

    Kept: printable ASCII except space and ``%``; ``also`` names more characters to encode
    (a separator). The encoding is one-to-one, so distinct ids never share a key.
    """
    return "".join(
        char
        if char in _KEPT and char not in also
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in ident
    )


def _safe_prefix(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or any(char not in _KEPT for char in value):
        raise InvalidRecordError(
            attribute.name,
            f"a key prefix must be non-empty printable ASCII without spaces or '%', got {value!r}",
        )


def _key_room(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRecordError(attribute.name, f"must be a whole number >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class KeyNaming:
    """Names the keys of task results, groups and chord counters.

    A key is the prefix followed by the escaped id (``escape_id``); when that is longer than
    ``max_length``, by ``%%`` and the id's SHA-256 instead, so the key still fits and stays
    unique. UUID ids keep Celery's keys exactly (``celery-task-meta-<id>``).

    Attributes:
        task_prefix: the latest stored meta of a task.
        final_prefix: the first SUCCESS of a task, never overwritten.
        group_prefix: a saved group result (and a chord's header).
        chord_prefix: a chord's counter.
        part_prefix: the marker of one counted header task of a chord.
        recovery_prefix: a chord's callback and claim, and the index of chords by start time.
        max_length: the longest key the store takes unchanged (``KeyValueStore.max_key_length``).
    """

    task_prefix: str = attrs.field(default=TASK_PREFIX, validator=_safe_prefix)
    final_prefix: str = attrs.field(default=FINAL_PREFIX, validator=_safe_prefix)
    group_prefix: str = attrs.field(default=GROUP_PREFIX, validator=_safe_prefix)
    chord_prefix: str = attrs.field(default=CHORD_PREFIX, validator=_safe_prefix)
    part_prefix: str = attrs.field(default=PART_PREFIX, validator=_safe_prefix)
    recovery_prefix: str = attrs.field(default=RECOVERY_PREFIX, validator=_safe_prefix)
    max_length: int = attrs.field(default=DEFAULT_MAX_KEY_LENGTH, validator=_key_room)

    def __attrs_post_init__(self) -> None:
        prefixes = (
            self.task_prefix,
            self.final_prefix,
            self.group_prefix,
            self.chord_prefix,
            self.part_prefix,
            self.recovery_prefix,
        )
        if len(set(prefixes)) != len(prefixes):
            raise InvalidRecordError("prefix", f"key prefixes must differ, got {prefixes!r}")
        longest = max(prefixes, key=len)
        if len(longest) + len(_DIGEST_MARK) + _DIGEST_LENGTH > self.max_length:
            raise InvalidRecordError(
                "max_length",
                f"{self.max_length} leaves no room for a key after the prefix {longest!r}",
            )
        for shorter in prefixes:
            for longer in prefixes:
                if shorter is not longer and longer.startswith(shorter):
                    raise InvalidRecordError(
                        "prefix", f"{longer!r} starts with {shorter!r}: their keys could collide"
                    )

    def task_key(self, task_id: Ident) -> str:
        """The key of a task's latest stored meta."""
        return self._key(self.task_prefix, id_text("task_id", task_id))

    def final_key(self, task_id: Ident) -> str:
        """The key of a task's first SUCCESS."""
        return self._key(self.final_prefix, id_text("task_id", task_id))

    def group_key(self, group_id: Ident) -> str:
        """The key of a saved group result."""
        return self._key(self.group_prefix, id_text("group_id", group_id))

    def chord_key(self, group_id: Ident) -> str:
        """The key of a chord's counter."""
        return self._key(self.chord_prefix, id_text("group_id", group_id))

    def part_key(self, group_id: Ident, task_id: Ident) -> str:
        """The key marking header task ``task_id`` of chord ``group_id`` as counted."""
        # "/" separates the two ids and is escaped inside them, so no pair shares a key.
        pair = (
            f"{escape_id(id_text('group_id', group_id), also='/')}"
            f"/{escape_id(id_text('task_id', task_id), also='/')}"
        )
        return self._fit(self.part_prefix, pair)

    def callback_key(self, group_id: Ident) -> str:
        """The key of a chord's callback, kept for recovery."""
        return self._fit(self.recovery_prefix, "callback/" + self._group(group_id))

    def uncertain_key(self, group_id: Ident) -> str:
        """The key flagging a chord one of whose decrements may or may not have been applied."""
        return self._fit(self.recovery_prefix, "uncertain/" + self._group(group_id))

    def claim_key(self, group_id: Ident) -> str:
        """The key of a chord's claim: who sends its callback, or that it was sent."""
        return self._fit(self.recovery_prefix, "claim/" + self._group(group_id))

    def index_count_key(self, bucket: int) -> str:
        """The key counting the chords started in time bucket ``bucket``."""
        return f"{self.recovery_prefix}index/{int(bucket)}"

    def index_slot_key(self, bucket: int, slot: int) -> str:
        """The key of the ``slot``-th chord started in time bucket ``bucket``."""
        return f"{self.recovery_prefix}index/{int(bucket)}/{int(slot)}"

    def _group(self, group_id: Ident) -> str:
        return escape_id(id_text("group_id", group_id), also="/")

    def _key(self, prefix: str, ident: str) -> str:
        return self._fit(prefix, escape_id(ident))

    def _fit(self, prefix: str, escaped: str) -> str:
        if len(prefix) + len(escaped) <= self.max_length:
            return prefix + escaped
        # The escaped text is ASCII and one-to-one with the id(s), so its digest is too.
        digest = hashlib.sha256(escaped.encode("ascii")).hexdigest()
        return f"{prefix}{_DIGEST_MARK}{digest}"
