"""What a run measured: ``Cell`` (one implementation on one target) and ``Run`` (all of it)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.suite.targets import Target

__all__ = ["Cell", "Run"]


@dataclass
class Cell:
    """Everything measured for one implementation on one target."""

    versions: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: str | None = None

    def merge(self, report: dict[str, Any]) -> None:
        """Add one process's report: runs of a scenario seen before are appended."""
        self.versions = report.get("versions") or self.versions
        if report.get("skipped"):
            self.skipped = report["skipped"]
        for name, result in report.get("results", {}).items():
            known = self.results.get(name)
            if known is None or known["status"] != "ok":
                self.results[name] = result
            elif result["status"] == "ok":
                known["runs"] = known["runs"] + result["runs"]
                if "started" in known:
                    known["started"]["runs"] += result["started"]["runs"]
                    known["started"]["median"] = statistics.median(known["started"]["runs"])
                known["median"] = statistics.median(known["runs"])
            else:
                known.setdefault("later_failures", []).append(result.get("error"))

    def ok(self, name: str) -> dict[str, Any] | None:
        """The scenario's result when it ran fine."""
        result = self.results.get(name)
        return result if result and result["status"] == "ok" else None


@dataclass
class Run:
    """One run of the suite: options, environment, and every cell measured."""

    quick: bool
    rounds: int
    cleanup_big: int | None
    command: str
    started: datetime
    targets: list[Target]
    skipped_targets: dict[str, str]
    servers: dict[str, str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    profiles: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    broker_skipped: str | None = None
    load_at_start: str = ""
    load_at_end: str = ""
    revision: str = ""

    def cell(self, target: str, impl: str) -> Cell:
        """The cell of ``impl`` on ``target`` (empty when it did not run)."""
        return self.cells.setdefault((target, impl), Cell())
