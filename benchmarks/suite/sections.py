"""The report's sections after the main tables: two processes, cleanup, worker, misses, failures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.suite.bar import Check, median_time, rate_ratio
from benchmarks.suite.format import (
    kib_text,
    markdown_table,
    ms_text,
    ratio_text,
    spread_text,
    trips_text,
)
from benchmarks.suite.measured import Run

__all__ = [
    "cleanup_section",
    "failures_section",
    "misses_section",
    "twoproc_section",
    "worker_section",
]


def _section(
    title: str, intro: str, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> list[str]:
    """A report section: its title, a paragraph saying what was measured, and its table."""
    return [f"## {title}", "", intro, "", *markdown_table(header, rows), ""]


def twoproc_section(run: Run) -> list[str]:
    """The two-process chord section: callbacks once, lost or twice, and errors."""
    rows = []
    for target in run.targets:
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        cells = []
        for cell in (ours, old):
            result = cell.ok("chord_2proc")
            if result is None:
                raw = cell.results.get("chord_2proc") or {}
                cells.append(cell.skipped or raw.get("reason") or raw.get("status", "-"))
                continue
            text = (
                f"{result['fired_once']}/{result['chords']} exactly once; lost "
                f"{result['lost']}, twice {result['duplicated']}; {result['errors']} errors; "
                f"{ms_text(median_time(result))}"
            )
            if result.get("first_error"):
                text += f"; first error: `{result['first_error'][:120]}`"
            cells.append(text)
        rows.append([target.title, *cells])
    return _section(
        "Chord of 200 with parts returned from 2 processes at once",
        "Two forked processes wait on a barrier, then return interleaved halves of the header "
        "as fast as they can. Time: from the first part to the last (median).",
        ["target", "ours", "old"],
        rows,
    )


def cleanup_section(run: Run) -> list[str]:
    """The cleanup section: time, peak memory and statements per backlog."""
    rows = []
    for target in (t for t in run.targets if t.kind == "db"):
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        for name in ("cleanup", "cleanup_big"):
            mine, theirs = ours.ok(name), old.ok(name)
            if mine is None and theirs is None:
                continue
            rows_count = (mine or theirs or {}).get("rows", 0)
            rows.append(
                [
                    target.title,
                    f"{rows_count:,}",
                    spread_text(mine),
                    spread_text(theirs),
                    ratio_text(rate_ratio(mine, theirs)),
                    _memory_text(mine),
                    _memory_text(theirs),
                    f"{(mine or {}).get('round_trips', {}).get('per_cleanup', '-')} / "
                    f"{(theirs or {}).get('round_trips', {}).get('per_cleanup', '-')}",
                ]
            )
    return _section(
        "Cleanup of expired results",
        "`backend.cleanup()` with that many expired rows plus fresh ones it must keep. Memory "
        "is measured in separate untimed passes: peak Python heap (tracemalloc) at each "
        "backlog, and growth of the process's peak RSS (VmHWM, reset before the call).",
        [
            "database",
            "expired rows",
            "ours",
            "old",
            "ours/old",
            "ours peak heap / RSS growth",
            "old peak heap / RSS growth",
            "statements ours / old",
        ],
        rows,
    )


def _memory_text(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    return "; ".join(
        f"{p['rows']:,} rows: {kib_text(p['peak_python_bytes'])} / "
        f"{kib_text(p['rss_growth_bytes'])}"
        for p in result["memory"]
    )


def worker_section(run: Run) -> list[str]:
    """The real-worker section: latency from a task's end to ``get()``."""
    rows = []
    for target in run.targets:
        ours, old = run.cell(target.key, "ours"), run.cell(target.key, "old")
        mine, theirs = ours.ok("worker"), old.ok("worker")
        if mine is None and theirs is None:
            reason = (ours.results.get("worker") or old.results.get("worker") or {}).get(
                "reason"
            ) or ours.skipped
            rows.append([target.title, reason or "-", "", "", ""])
            continue
        rows.append(
            [
                target.title,
                _latency(mine),
                _latency(theirs),
                ratio_text(rate_ratio(mine, theirs)),
                f"{trips_text(mine)} / {trips_text(theirs)}",
            ]
        )
    return _section(
        "A real worker: from a task's end to `AsyncResult.get()` returning",
        "A worker subprocess (prefork, 2 processes, RabbitMQ) runs tasks that sleep 50-300 ms "
        "and return the time they ended; the client calls `get()` with Celery's defaults "
        "(polling every 0.5 s for these backends), so half the interval is the expected "
        "median whatever the store.",
        ["target", "ours median (p90)", "old median (p90)", "ours/old", "round trips per get"],
        rows,
    )


def _latency(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    runs = sorted(result["runs"])
    p90 = runs[min(len(runs) - 1, int(len(runs) * 0.9))]
    return f"{ms_text(statistics.median(runs))} ({ms_text(p90)})"


def misses_section(run: Run, checks: list[Check]) -> list[str]:
    """The targets missed, each with its gap, and the profiles taken of them."""
    missed = [c for c in checks if c.met is False]
    lines = ["## Targets missed, and why", ""]
    if not missed:
        lines += ["None.", ""]
        return lines
    for check in missed:
        lines.append(f"- **{check.bar}** on {check.target}: {check.measured}; {check.gap}.")
    lines.append("")
    if run.profiles:
        lines.append(
            "cProfile of the timed regions (profiling inflates Python time relative to I/O; "
            "compare the shares and the per-operation totals, not absolute times):"
        )
        lines.append("")
    keys = sorted({key for key, _ in run.profiles})
    for key in keys:
        lines.append(f"### Profile: {key}")
        lines.append("")
        for impl in ("ours", "old"):
            profile = run.profiles.get((key, impl))
            if not profile:
                continue
            ops = max(1, profile["ops"])
            per_op = profile["total_seconds"] / ops
            io = profile.get("io_seconds", 0.0) / ops
            areas = ", ".join(f"{name} {share:.0%}" for name, share in profile["areas"].items())
            lines.append(
                f"- {impl}: {ms_text(per_op)} profiled per operation ({ms_text(io)} in the "
                f"driver and waiting for the server, {ms_text(per_op - io)} in Python); {areas}"
            )
        lines.append("")
        ours = run.profiles.get((key, "ours"))
        if ours:
            lines.append("  ours, costliest functions (own time):")
            lines.append("")
            for row in ours["top_tottime"][:8]:
                lines.append(
                    f"  - `{row['function']}`: {row['tottime'] * 1000:.0f} ms own, "
                    f"{row['calls']} calls ({row['area']})"
                )
            lines.append("")
            if ours["package_cumtime"]:
                lines.append("  ours, package functions by cumulative time:")
                lines.append("")
                for row in ours["package_cumtime"][:6]:
                    lines.append(
                        f"  - `{row['function']}`: {row['cumtime'] * 1000:.0f} ms cumulative, "
                        f"{row['calls']} calls"
                    )
                lines.append("")
    return lines


def failures_section(run: Run) -> list[str]:
    """The traceback of every scenario that failed (nothing when none did)."""
    lines: list[str] = []
    for (target, impl), cell in sorted(run.cells.items()):
        for name, result in cell.results.items():
            if result["status"] == "failed":
                lines.append(f"### {name}, {impl} on {target}")
                lines.append("")
                lines.append("```")
                lines.append(str(result.get("error", "")).strip()[-2500:])
                lines.append("```")
                lines.append("")
    if lines:
        lines = ["## Scenario failures", "", *lines]
    return lines
