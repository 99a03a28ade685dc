"""How many header tasks report to a chord: the count Celery's canvas means."""

from __future__ import annotations

from typing import Any

from celery.result import ResultSet

__all__ = ["chord_size"]


def chord_size(header: Any, body: Any) -> int:
    """The number of header tasks whose return counts towards the chord ``body``.

    ``header`` is the chord's frozen header (a ``GroupResult``, or anything iterable over its
    members). Celery counts (``chord.__length_hint__``, ``chord._descend``) one part per
    simple header task, the last task of a chain, every task of a nested group, and the body
    of a nested chord; the frozen result of each of those is exactly the result that reports,
    so the tasks inside nested groups are counted, at any depth. Counting the header's
    top-level members instead fired the callback of ``[task, chain(task, group(a, b))]`` after
    2 of its 3 parts (issue 9, defect 8). A ``chord_size`` that Celery put on the body itself
    (older releases did) wins.
    """
    given = body.get("chord_size") if hasattr(body, "get") else None
    if given:
        return int(given)
    return sum(_reporting_tasks(member) for member in header)


def _reporting_tasks(member: Any) -> int:
    if isinstance(member, ResultSet):
        return sum(_reporting_tasks(inner) for inner in member.results or [])
    return 1
