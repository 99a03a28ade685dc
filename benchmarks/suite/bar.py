"""Issue 5's bar, target by target: each ``Check`` with what was measured and the gap."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.suite.format import kib_text, ms_text, trips_text
from benchmarks.suite.measured import Cell, Run
from benchmarks.suite.targets import Target

__all__ = ["Check", "evaluate", "median_time", "rate_ratio"]


@dataclass
class Check:
    """One target of issue 5's bar, on one store, with what was measured."""

    bar: str
    target: str
    measured: str
    met: bool | None
    gap: str = ""
    profile: tuple[str, str] | None = None


def median_time(result: dict[str, Any] | None) -> float | None:
    """The median of the result's timed runs, or None without any."""
    if not result or not result.get("runs"):
        return None
    return float(statistics.median(result["runs"]))


def rate_ratio(ours: dict[str, Any] | None, other: dict[str, Any] | None) -> float | None:
    """How many times the other's time ours is: > 1 means ours is faster."""
    mine, theirs = median_time(ours), median_time(other)
    if not mine or not theirs:
        return None
    return theirs / mine


def _not_measured(bar: str, target: Target, why: str) -> Check:
    return Check(bar, target.title, f"not measured: {why}", None)


def _ratio_check(
    bar: str,
    target: Target,
    ours: dict[str, Any] | None,
    other: dict[str, Any] | None,
    needed: float,
    scenario: str,
    what: str = "old",
) -> Check:
    ratio = rate_ratio(ours, other)
    if ratio is None:
        return _not_measured(bar, target, f"no {scenario} figure for ours or {what}")
    met = ratio >= needed
    measured = (
        f"{ratio:.2f}x {what} ({ms_text(median_time(ours))} vs {ms_text(median_time(other))})"
        if what == "old"
        else f"{ratio:.0%} of limit ({ms_text(median_time(ours))} vs {ms_text(median_time(other))})"
    )
    gap = ""
    if not met:
        gap = (
            f"{needed / ratio:.2f}x too slow (needs {needed:g}x)"
            if what == "old"
            else f"{(needed - ratio) * 100:.0f} points below {needed:.0%}"
        )
    return Check(bar, target.title, measured, met, gap, (target.key, scenario))


def evaluate(run: Run) -> list[Check]:
    """Issue 5's bar, target by target."""
    checks: list[Check] = []
    for target in run.targets:
        ours, old, limit = (run.cell(target.key, impl) for impl in ("ours", "old", "limit"))
        if target.kind == "db":
            checks += _db_checks(run, target, ours, old, limit)
        else:
            checks += _cache_checks(target, ours)
    return checks


def _db_checks(run: Run, target: Target, ours: Cell, old: Cell, limit: Cell) -> list[Check]:
    checks: list[Check] = []
    server = target.key in ("postgresql", "mariadb")
    for scenario in ("store", "update"):
        result = ours.ok(scenario)
        bar = f"{scenario}: 1 statement"
        if result is None:
            checks.append(_not_measured(bar, target, ours.skipped or "failed"))
        else:
            worst = result["round_trips"]["max"]
            checks.append(
                Check(
                    bar,
                    target.title,
                    f"{worst:g} statement(s) (old: {trips_text(old.ok(scenario))})",
                    worst == 1,
                    "" if worst == 1 else f"{worst - 1:g} statement(s) too many",
                )
            )
        if server:
            checks.append(
                _ratio_check(
                    f"{scenario}: >= 3x old", target, result, old.ok(scenario), 3.0, scenario
                )
            )
        checks.append(
            _ratio_check(
                f"{scenario}: >= 80% of limit",
                target,
                result,
                limit.ok(scenario),
                0.8,
                scenario,
                what="limit",
            )
        )
    needed = 2.0 if target.key == "sqlite" else 1.3
    checks.append(
        _ratio_check(
            f"get: >= {needed:g}x old", target, ours.ok("get"), old.ok("get"), needed, "get"
        )
    )
    checks.append(
        _ratio_check("join 500: >= 10x old", target, ours.ok("join"), old.ok("join"), 10.0, "join")
    )
    join = ours.ok("join")
    if join is None:
        checks.append(_not_measured("join 500: <= 2 queries", target, "no join figure"))
    else:
        queries = join["round_trips"]["max"]
        checks.append(
            Check(
                "join 500: <= 2 queries",
                target.title,
                f"{queries:g} (old: {trips_text(old.ok('join'))})",
                queries <= 2,
                "" if queries <= 2 else f"{queries - 2:g} too many",
            )
        )
    checks.append(
        _ratio_check(
            "chord 200: >= 3x old", target, ours.ok("chord"), old.ok("chord"), 3.0, "chord"
        )
    )
    checks.append(
        _pair_check(
            target,
            (ours, old),
            "chord",
            "chord: constant statements per part",
            "no chord figure",
            _chord_constant,
        )
    )
    checks.append(
        _pair_check(
            target,
            (ours, old),
            "chord_2proc",
            "chord from 2 processes: callback exactly once in 100% of runs",
            "no two-process figure",
            _twoproc_once,
        )
    )
    checks.append(
        _ratio_check(
            "cleanup: no slower than old",
            target,
            ours.ok("cleanup"),
            old.ok("cleanup"),
            1.0,
            "cleanup",
        )
    )
    checks.append(_memory_check(target, ours.ok("cleanup"), ours.ok("cleanup_big")))
    return checks


#: What a judge makes of ours and old's figures: (measured, met, gap).
_Verdict = tuple[str, bool, str]


def _pair_check(
    target: Target,
    cells: tuple[Cell, Cell],
    scenario: str,
    bar: str,
    missing: str,
    judge: Callable[[dict[str, Any], dict[str, Any] | None], _Verdict],
) -> Check:
    """``judge``'s verdict on ours (and old, when it ran), or "not measured: ``missing``"."""
    ours, old = (cell.ok(scenario) for cell in cells)
    if ours is None:
        return _not_measured(bar, target, missing)
    measured, met, gap = judge(ours, old)
    return Check(bar, target.title, measured, met, gap)


def _chord_constant(ours: dict[str, Any], old: dict[str, Any] | None) -> _Verdict:
    full, half = ours["round_trips"], ours["round_trips_half"]
    part = full["part"]
    constant = part["min"] == part["max"] and full["last_part"] == half["last_part"]
    measured = (
        f"{part['min']:g}-{part['max']:g} per part, last part {full['last_part']} at "
        f"{full['size']} parts and {half['last_part']} at {half['size']}"
    )
    if old:
        measured += (
            f" (old: {old['round_trips']['part']['max']:g} per part, last "
            f"{old['round_trips']['last_part']})"
        )
    gap = "" if constant else "the count depends on the part or on the chord's size"
    return measured, constant, gap


def _twoproc_once(ours: dict[str, Any], old: dict[str, Any] | None) -> _Verdict:
    once, total = ours["fired_once"], ours["chords"]
    measured = f"{once}/{total} runs, {ours['errors']} errors"
    if old:
        measured += f" (old: {old['fired_once']}/{old['chords']}, {old['errors']} errors)"
    gap = ""
    if once != total:
        gap = (
            f"{total - once} run(s) lost or duplicated the callback; "
            f"first error: {ours['first_error']}"
        )
    return measured, once == total, gap


def _memory_check(target: Target, ours: dict[str, Any] | None, big: dict[str, Any] | None) -> Check:
    bar = "cleanup: peak memory flat in the number of rows"
    if ours is None:
        return _not_measured(bar, target, "no cleanup figure")
    points = list(ours["memory"]) + (list(big["memory"]) if big else [])
    smallest = min(points, key=lambda p: p["rows"])
    largest = max(points, key=lambda p: p["rows"])
    # Flat: the largest backlog's peak within 1.5x (plus 256 KiB of slack) of the smallest's.
    limit = smallest["peak_python_bytes"] * 1.5 + 256 * 1024
    flat = largest["peak_python_bytes"] <= limit
    measured = ", ".join(
        f"{kib_text(p['peak_python_bytes'])} at {p['rows']:,} rows"
        for p in sorted(points, key=lambda p: p["rows"])
    )
    gap = (
        "" if flat else f"grows {largest['peak_python_bytes'] / smallest['peak_python_bytes']:.1f}x"
    )
    return Check(bar, target.title, measured, flat, gap)


@dataclass(frozen=True)
class _CountBar:
    """A bar on a count in one scenario's result: at most (or exactly) ``most``."""

    bar: str
    scenario: str
    count: Callable[[dict[str, Any]], int]
    most: int
    exact: bool
    measured: str  # formatted with the count
    gap: str  # formatted with the excess over ``most``


_CACHE_BARS = (
    _CountBar(
        "cache join: one round trip per poll",
        "join",
        lambda result: result["round_trips"]["max"],
        1,
        True,
        "{count:g} round trip(s) for 500 stored results",
        "{excess:g} round trip(s) too many",
    ),
    _CountBar(
        "cache chord: no polling unlock task (atomic increment)",
        "chord",
        lambda result: result["round_trips"]["outcome"]["unlock_tasks"],
        0,
        True,
        "{count} unlock task(s) sent",
        "Celery's polling chord_unlock task is still sent",
    ),
    _CountBar(
        "cache store: <= 2 round trips",
        "store",
        lambda result: result["round_trips"]["max"],
        2,
        False,
        "{count:g} round trip(s)",
        "{excess:g} round trip(s) too many",
    ),
)


def _cache_checks(target: Target, ours: Cell) -> list[Check]:
    if ours.skipped:
        return [_not_measured(bar.bar, target, ours.skipped) for bar in _CACHE_BARS]
    checks = []
    for bar in _CACHE_BARS:
        result = ours.ok(bar.scenario)
        if result is None:
            checks.append(_not_measured(bar.bar, target, f"{bar.scenario} failed"))
            continue
        count = bar.count(result)
        met = count == bar.most if bar.exact else count <= bar.most
        gap = "" if met else bar.gap.format(excess=count - bar.most)
        checks.append(Check(bar.bar, target.title, bar.measured.format(count=count), met, gap))
    return checks
