"""The soak's command line (``./scripts/fault-soak``): each store in a fresh process, the counts."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.fault_soak.one_store import run_store
from benchmarks.fault_soak.plan import REPO, STORES, FaultSchedule, Workload, say

__all__ = ["main"]

DESCRIPTION = (
    "The fault soak: a real worker stores thousands of results through a proxy that breaks."
)


def _format(report: dict[str, Any]) -> str:
    sent = report["sent"]
    proxy = report["proxy"]
    lines = [
        f"{report['store']}: {'OK' if report['ok'] else 'FAILED'} in {report['seconds']:.0f} s "
        f"(code at {report['source']})",
        f"  tasks sent: {sum(sent.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(sent.items()))})",
        f"  final state and result correct: {report['correct']}; lost: {report['lost']}; "
        f"wrong: {report['wrong']}",
        f"  chord callbacks: {report['callbacks_once']} ran once, {report['callbacks_lost']} lost, "
        f"{report['callbacks_doubled']} doubled; "
        f"{report.get('callbacks_recovered', 0)} sent by the chord recovery",
        f"  faults: {proxy.get('cuts')} cuts resetting {proxy.get('connections_cut')} "
        f"connections, refusals {proxy.get('refusal_seconds')} s; backend retries in the "
        f"worker: {report['backend_retries']} (deepest {report['deepest_retry']}), "
        f"given up: {report['gave_up']}",
    ]
    lines += [f"  example: {w}" for w in report["examples"][:10]]
    lines += [f"  worker error: {e}" for e in report["worker_errors"][:5]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak on each store (each in a fresh process); print the counts; 1 on any loss."""
    parser = argparse.ArgumentParser(prog="./scripts/fault-soak", description=DESCRIPTION)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per store")
    parser.add_argument("--chords", type=int, default=None, help="chords (and groups) of 50")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--refuse-at", type=float, default=15.0, help="s into the faults")
    parser.add_argument("--refuse-seconds", type=float, default=10.0)
    parser.add_argument("--fault-seconds", type=float, default=None, help="default: deadline")
    parser.add_argument("--deadline", type=float, default=None, help="s per store for the work")
    parser.add_argument(
        "--stall",
        type=float,
        default=None,
        help="stop waiting when no result got ready for this long (s): the rest are lost "
        "(default 150, --short 30)",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="CI's version: 300 tasks, 2 chords and 2 groups, a cut, a 3 s refusal",
    )
    parser.add_argument(
        "--no-recover",
        action="store_true",
        help="do not run the chord recovery when results stall (count those chords as lost)",
    )
    parser.add_argument("--one-store", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the reports here (JSON lines)")
    args = parser.parse_args(argv)

    if args.short:
        workload = Workload.for_total(300, chords=2)
        deadline = args.deadline or 120.0
        schedule = FaultSchedule(
            seed=args.seed,
            fault_seconds=args.fault_seconds or 8.0,
            refuse_at=1.5,
            refuse_seconds=3.0,
            cut_at=(0.5, 6.0),
            random_cuts=False,
        )
    else:
        workload = Workload.for_total(args.tasks, args.chords)
        deadline = args.deadline or 300.0 + args.tasks * 0.1
        schedule = FaultSchedule(
            seed=args.seed,
            fault_seconds=args.fault_seconds or deadline,
            refuse_at=args.refuse_at,
            refuse_seconds=args.refuse_seconds,
        )

    stall = args.stall or (30.0 if args.short else 150.0)
    if args.one_store:
        return run_store(args.one_store, workload, schedule, deadline, stall, not args.no_recover)

    status = 0
    reports: list[dict[str, Any]] = []
    for store in (s.strip() for s in args.stores.split(",") if s.strip()):
        if store not in STORES:
            parser.error(f"--stores: {store!r} is not one of {', '.join(STORES)}")
        say(f"{store}: {workload.tasks} tasks, faults {schedule}")
        # A fresh process per store: Django's settings are set up once per process.
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.fault_soak",
                *(argv or sys.argv[1:]),
                "--one-store",
                store,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            check=False,
        )
        lines = [line for line in child.stdout.decode().splitlines() if line.startswith("{")]
        if not lines:
            say(f"{store}: the run ended with no report (exit {child.returncode})")
            status = 1
            continue
        report = json.loads(lines[-1])
        reports.append(report)
        sys.stdout.write(_format(report) + "\n")
        sys.stdout.flush()
        if child.returncode or not report["ok"]:
            status = 1
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in reports))
    sys.stdout.write(f"fault soak: {'all held' if status == 0 else 'FAILED'}\n")
    return status
