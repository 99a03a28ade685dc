"""Running the scenario processes: one per implementation, target and round, interleaved."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite.config import BROKER_URL, HEAVY, IMPLS, LIGHT, REPO, ROW_IMPLS, SCENARIOS, say
from benchmarks.suite.measured import Run
from benchmarks.suite.oldvenv import clean_env
from benchmarks.suite.scratch import Scratch, cache_entry
from benchmarks.suite.targets import Target

__all__ = ["execute", "run_impl", "scenario_config"]


def run_impl(
    python: Path, config: dict[str, Any], directory: Path, timeout: float = 3600
) -> dict[str, Any]:
    """Run the scenarios with ``python`` and ``config``; their JSON report (or the failure)."""
    stem = f"{config['target']}-{config['impl']}-{time.monotonic_ns()}"
    config_path = directory / f"{stem}.config.json"
    out_path = directory / f"{stem}.out.json"
    config_path.write_text(json.dumps(config))
    done = subprocess.run(
        [str(python), "-m", SCENARIOS, "run", "--config", str(config_path), "--out", str(out_path)],
        # The old package's venv does not have this repository installed: only ``benchmarks``
        # is imported from it, and ``src/`` is not on the path.
        env={**clean_env(), "PYTHONPATH": str(REPO)},
        cwd=str(directory),
        timeout=timeout,
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0 or not out_path.exists():
        return {
            "results": {
                name: {"status": "failed", "error": f"{SCENARIOS} exited {done.returncode}"}
                for name in config["scenarios"]
            }
        }
    report: dict[str, Any] = json.loads(out_path.read_text())
    return report


def scenario_config(
    run: Run,
    target: Target,
    impl: str,
    database: dict[str, Any],
    scenarios: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:
    """The JSON config one scenario process reads (``benchmarks.scenarios``)."""
    return {
        "impl": impl,
        "target": target.key,
        "kind": target.kind,
        "vendor": target.vendor,
        "backend": target.backend,
        "database": database,
        "cache": cache_entry(target, impl),
        "broker_url": None if run.broker_skipped else BROKER_URL,
        "quick": run.quick,
        "scenarios": list(scenarios),
        **extra,
    }


def execute(run: Run, pythons: dict[str, Path | None], scratch: Scratch, directory: Path) -> None:
    """Every pass over every target and implementation; fills ``run.cells``."""
    databases = {
        (t.key, impl): scratch.database(t, impl)
        for t in run.targets
        for impl in IMPLS
        if t.kind == "db" or impl not in ROW_IMPLS
    }
    for round_index in range(run.rounds):
        for target in run.targets:
            impls = [i for i in IMPLS if target.kind == "db" or i not in ROW_IMPLS]
            # Alternate who goes first, so drift over the run does not favour one of them.
            shift = round_index % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                python = pythons[impl]
                cell = run.cell(target.key, impl)
                if python is None:
                    cell.skipped = cell.skipped or "its venv could not be built"
                    continue
                if cell.skipped:
                    continue
                names = list(LIGHT) + (list(HEAVY) if round_index == 0 else [])
                say(f"round {round_index + 1}/{run.rounds}: {impl} on {target.title}")
                config = scenario_config(
                    run,
                    target,
                    impl,
                    databases[(target.key, impl)],
                    names,
                    repeats=1,
                    cleanup_big=run.cleanup_big if round_index == 0 else None,
                )
                cell.merge(run_impl(python, config, directory))
