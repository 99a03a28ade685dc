"""The suite's command line (``./benchmarks/run``): options, the run from probes to the report."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.suite.bar import evaluate
from benchmarks.suite.config import REPO, ROW_IMPLS, WORK, say
from benchmarks.suite.environment import git_revision, load_average
from benchmarks.suite.measured import Run
from benchmarks.suite.oldvenv import ensure_old_venv
from benchmarks.suite.profiles import profile_misses
from benchmarks.suite.report import existing_notes, render
from benchmarks.suite.running import execute
from benchmarks.suite.scratch import Scratch
from benchmarks.suite.targets import TARGETS, probe, probe_broker

__all__ = ["main"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run",
        description="Benchmark this package against django-celery-results 2.6.0 and the bare "
        "driver, and check issue 5's bar.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller scale (a couple of minutes), for CI smoke runs; writes "
        ".bench/BENCHMARKS-quick.md unless --output is given",
    )
    parser.add_argument(
        "--targets",
        default=",".join(t.key for t in TARGETS),
        help="comma-separated targets (default: all of %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved passes of the quick scenarios (default 5, quick 2)",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="also clean up 1,000,000 expired rows per database (time and peak memory)",
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write the report")
    parser.add_argument(
        "--max-profiles",
        type=int,
        default=None,
        help="profile at most this many missed (target, scenario) pairs (default 10; quick 0)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep .bench/run-*/ (configs and JSON reports)"
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    directory = WORK / f"run-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; write and print the report. Exit status 0 unless the suite itself broke."""
    args = _parse(argv)
    started = time.monotonic()
    wanted = [key.strip() for key in args.targets.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in {t.key for t in TARGETS}]
    if unknown:
        say(f"unknown targets: {', '.join(unknown)}")
        return 2
    targets, skipped, servers = [], {}, {}
    for target in (t for t in TARGETS if t.key in wanted):
        reason, version = probe(target)
        if reason:
            skipped[target.key] = reason
            say(f"skipping {target.title}: {reason}")
        else:
            targets.append(target)
            if version:
                servers[target.key] = version
    broker_reason, broker_version = probe_broker()
    if broker_version:
        servers["broker"] = broker_version
    command = os.environ.get("BENCH_COMMAND") or " ".join(
        ["python -m benchmarks.suite", *(argv or sys.argv[1:])]
    )
    run = Run(
        quick=args.quick,
        rounds=args.rounds or (2 if args.quick else 5),
        cleanup_big=1_000_000 if args.million else None,
        command=command,
        started=datetime.now(timezone.utc),
        targets=targets,
        skipped_targets=skipped,
        servers=servers,
        broker_skipped=broker_reason,
        load_at_start=load_average(),
        # Taken before measuring: commits made while the suite runs are not what it measured.
        revision=git_revision(),
    )
    pythons: dict[str, Path | None] = {impl: Path(sys.executable) for impl in ("ours", *ROW_IMPLS)}
    try:
        pythons["old"] = ensure_old_venv()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        say(f"the old package's venv cannot be built; its column stays empty: {exc}")
        pythons["old"] = None
    output = args.output or (WORK / "BENCHMARKS-quick.md" if args.quick else REPO / "BENCHMARKS.md")
    with _workdir(args.keep_work) as directory:
        scratch = Scratch(directory / "databases")
        scratch.directory.mkdir(parents=True, exist_ok=True)
        try:
            execute(run, pythons, scratch, directory)
            checks = evaluate(run)
            max_profiles = args.max_profiles
            if max_profiles is None:
                max_profiles = 0 if args.quick else 10
            if max_profiles:
                profile_misses(run, checks, pythons, scratch, directory, max_profiles)
        finally:
            scratch.drop_all()
    run.seconds = time.monotonic() - started
    run.load_at_end = load_average()
    report = render(run, checks, existing_notes(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    sys.stdout.write(report.split("## Notes", 1)[0])
    say(f"written to {output} ({run.seconds / 60:.1f} minutes)")
    return 0
