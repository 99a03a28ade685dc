"""What a soak runs and reports: the stores, the workload, the fault schedule, the counts."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BATCH",
    "REPO",
    "STORES",
    "UPSTREAM_PORTS",
    "WORK",
    "Expected",
    "FaultSchedule",
    "SoakReport",
    "Workload",
    "say",
]

#: The repository root (``benchmarks/fault_soak/plan.py`` is three levels below it).
REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".bench" / "fault-soak"
STORES = ("postgresql", "mariadb", "redis")
UPSTREAM_PORTS = {"postgresql": 5432, "mariadb": 3306, "redis": 6379}
#: Size of every group and chord header.
BATCH = 50


def say(message: str) -> None:
    """One line of progress on stderr."""
    sys.stderr.write(f"[fault-soak] {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Workload:
    """How much work one store gets.

    Attributes:
        singles: single tasks; every 10th fails on purpose, every 10th (offset 5) retries.
        groups: groups of ``BATCH`` tasks.
        chords: chords of ``BATCH`` header tasks and one callback.
    """

    singles: int
    groups: int
    chords: int

    @property
    def tasks(self) -> int:
        """Every task the worker runs to its end (retries of one task count once)."""
        return self.singles + (self.groups + self.chords) * BATCH + self.chords

    @classmethod
    def for_total(cls, total: int, chords: int | None = None) -> Workload:
        """Roughly 40% single tasks, 30% in groups, 30% in chords (or ``chords`` chords)."""
        if chords is None:
            chords = max(1, round(total * 0.3 / BATCH))
        groups = chords
        singles = max(0, total - (groups + chords) * BATCH - chords)
        return cls(singles, groups, chords)


@dataclass(frozen=True)
class FaultSchedule:
    """The proxy's faults for one store.

    Attributes:
        seed: the seed of the random cut times.
        fault_seconds: how long the proxy keeps cutting, from the moment the worker is busy.
        refuse_at: seconds into the faults at which it refuses every connection...
        refuse_seconds: ...for this long.
        min_gap: shortest gap between two cuts.
        max_gap: longest gap between two cuts.
        cut_at: extra cuts at these times (the short mode's guaranteed cut).
        random_cuts: whether random cuts run at all.
    """

    seed: int
    fault_seconds: float
    refuse_at: float
    refuse_seconds: float
    min_gap: float = 0.5
    max_gap: float = 3.0
    cut_at: tuple[float, ...] = ()
    random_cuts: bool = True

    def proxy_arguments(self) -> list[str]:
        """The command-line arguments of ``benchmarks.faultproxy`` for this schedule."""
        arguments = [
            "--seed",
            str(self.seed),
            "--fault-seconds",
            str(self.fault_seconds),
            "--min-gap",
            str(self.min_gap),
            "--max-gap",
            str(self.max_gap),
            "--refuse",
            f"{self.refuse_at}:{self.refuse_seconds}",
        ]
        for moment in self.cut_at:
            arguments += ["--cut-at", str(moment)]
        if not self.random_cuts:
            arguments.append("--no-cuts")
        return arguments


@dataclass
class Expected:
    """What one task must end as.

    Attributes:
        kind: single, failing, retrying, group, header or callback.
        state: its final state.
        result: its result (for a FAILURE: the error message it must carry).
    """

    kind: str
    state: str
    result: Any


@dataclass
class SoakReport:
    """The counts of one store's run.

    Attributes:
        store: postgresql, mariadb or redis.
        sent: tasks by kind.
        correct: tasks whose final state and result are right.
        lost: tasks with no final state at the deadline (PENDING, STARTED, RETRY or nothing).
        wrong: tasks with a final state or result other than the expected one.
        callbacks_once: chord callbacks that ran exactly once.
        callbacks_lost: chord callbacks that never ran (whatever their stored state).
        callbacks_doubled: chord callbacks that ran more than once.
        callbacks_recovered: chords whose callback no worker sent, sent by the library's chord
            recovery (``backend.recover_chords``), run once everything else was ready.
        backend_retries: retries of a backend operation logged by the worker (Celery's
            "Failed operation ... Retrying").
        deepest_retry: the most retries one backend operation needed (of
            ``result_backend_max_retries``).
        gave_up: backend operations the worker gave up on after all its retries.
        examples: the first lost or wrong tasks, and anything else amiss, described.
        worker_errors: other ERROR lines in the worker's log, as examples.
        proxy: the proxy's own counts (cuts, connections reset, refusals).
        seconds: from the first task sent to the last result read (a stall not counted).
        source: the commit the code under test is at, and whether ``src/`` differs from it.
    """

    store: str
    sent: dict[str, int] = field(default_factory=dict)
    correct: int = 0
    lost: int = 0
    wrong: int = 0
    callbacks_once: int = 0
    callbacks_lost: int = 0
    callbacks_doubled: int = 0
    callbacks_recovered: int = 0
    backend_retries: int = 0
    deepest_retry: int = 0
    gave_up: int = 0
    examples: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)
    proxy: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing wrong, every callback once."""
        return not (self.lost or self.wrong or self.callbacks_lost or self.callbacks_doubled)
