"""A cProfile run summarised: time by area (driver, Django, Celery, ...), costliest functions."""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path
from typing import Any

__all__ = ["profile_summary"]


def profile_summary(profiler: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """Where the profiled time went: shares by area, and the costliest functions."""
    stats = pstats.Stats(profiler)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1e-12
    areas: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in table.items():
        area = _area(filename, name)
        areas[area] = areas.get(area, 0.0) + tottime
        rows.append((tottime, cumtime, calls, _where(filename, line, name), area))
    rows.sort(reverse=True)
    package = sorted((r for r in rows if r[4] == "results backend package"), key=lambda r: -r[1])
    return {
        "total_seconds": total,
        "io_seconds": areas.get("driver and I/O", 0.0),
        "areas": {k: v / total for k, v in sorted(areas.items(), key=lambda kv: -kv[1])},
        "top_tottime": [
            {"function": w, "tottime": t, "cumtime": c, "calls": n, "area": a}
            for t, c, n, w, a in rows[:top]
        ],
        "package_cumtime": [
            {"function": w, "tottime": t, "cumtime": c, "calls": n} for t, c, n, w, _ in package[:8]
        ],
    }


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    parts = Path(filename).parts
    for anchor in ("site-packages", "src", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor) :]
            break
    return f"{'/'.join(parts)}:{line}({name})"


def _area(filename: str, name: str) -> str:
    if "django_celery_results" in filename:
        return "results backend package"
    if "/django/" in filename:
        return "Django"
    if any(marker in filename for marker in ("/celery/", "/kombu/", "/billiard/", "/vine/")):
        return "Celery and kombu"
    text = f"{filename} {name}"
    drivers = ("psycopg", "MySQLdb", "sqlite3", "Cursor", "redis", "pymemcache", "socket")
    if any(marker in text for marker in drivers):
        return "driver and I/O"
    if "json" in text:
        return "json"
    if filename == "~":
        return "other built-ins"
    return "other Python"
