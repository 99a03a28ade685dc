"""How figures are written in the report: times, sizes, spreads, round trips, ratios, tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.suite.measured import Cell

__all__ = [
    "cell_text",
    "kib_text",
    "markdown_table",
    "ms_text",
    "ratio_text",
    "spread_text",
    "trips_text",
]


def ms_text(seconds: float | None) -> str:
    """A time in seconds written in milliseconds, with the digits that matter."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.3f} ms"


def kib_text(value: float | None) -> str:
    """A byte count written in KiB."""
    if value is None:
        return "-"
    return f"{value / 1024:,.0f} KiB"


def spread_text(result: dict[str, Any] | None) -> str:
    """Median and spread: (max - min) / median over the runs."""
    if not result or not result.get("runs"):
        return "-"
    runs = result["runs"]
    median = statistics.median(runs)
    spread = (max(runs) - min(runs)) / median if median else 0.0
    return f"{ms_text(median)} ±{spread * 50:.0f}%"


def trips_text(result: dict[str, Any] | None) -> str:
    """The round trips per operation: one number, or the range seen."""
    if not result:
        return "-"
    trips = result.get("round_trips") or {}
    if "mean" not in trips:
        return "-"
    if trips["min"] == trips["max"]:
        return f"{trips['max']:g}"
    return f"{trips['min']:g}-{trips['max']:g}"


def ratio_text(value: float | None, percent: bool = False) -> str:
    """A ratio written as ``1.23x`` (or as a percentage)."""
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:.2f}x"


def cell_text(cell: Cell, name: str) -> str:
    """A cell's figure for one scenario: median and spread, or why there is none."""
    result = cell.results.get(name)
    if cell.skipped:
        return "skipped"
    if result is None:
        return "-"
    if result["status"] != "ok":
        return str(result["status"])
    return spread_text(result)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
