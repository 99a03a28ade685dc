"""cProfile runs of both packages on each (target, scenario) whose speed target was missed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.suite.bar import Check
from benchmarks.suite.config import say
from benchmarks.suite.measured import Run
from benchmarks.suite.running import run_impl, scenario_config
from benchmarks.suite.scratch import Scratch

__all__ = ["profile_misses"]


def profile_misses(
    run: Run,
    checks: list[Check],
    pythons: dict[str, Path | None],
    scratch: Scratch,
    directory: Path,
    limit: int,
) -> None:
    """Profile (cProfile) both packages on each (target, scenario) whose speed target was missed."""
    missed: list[tuple[str, str]] = []
    for check in checks:
        if check.met is False and check.profile and check.profile not in missed:
            missed.append(check.profile)
    # Each missed scenario once (on a server database first) before any scenario twice.
    preference = {"postgresql": 0, "mariadb": 1, "sqlite": 2}
    wanted: list[tuple[str, str]] = []
    for key in sorted(missed, key=lambda k: preference.get(k[0], 3)):
        if all(scenario != key[1] for _, scenario in wanted):
            wanted.append(key)
    wanted += [key for key in missed if key not in wanted]
    by_key = {t.key: t for t in run.targets}
    for target_key, scenario in wanted[:limit]:
        target = by_key[target_key]
        for impl in ("ours", "old"):
            python = pythons[impl]
            if python is None:
                continue
            say(f"profiling {scenario} on {target.title} ({impl})")
            config = scenario_config(
                run,
                target,
                impl,
                scratch.database(target, f"{impl}_profile_{scenario}"),
                [scenario],
                profile=scenario,
                repeats=2,
            )
            report = run_impl(python, config, directory)
            result = report.get("results", {}).get(scenario, {})
            if report.get("profile"):
                run.profiles[(f"{target_key}:{scenario}", impl)] = {
                    **report["profile"],
                    "ops": _ops_in(result, scenario),
                }


def _ops_in(result: dict[str, Any], scenario: str) -> int:
    """How many operations the profiled timed regions covered."""
    runs = len(result.get("runs", [])) or 1
    if scenario in ("store", "update", "get"):
        return int(result.get("ops", 1)) * runs
    return runs
