"""How much work each scenario does (``Scale``, ``FULL``, ``QUICK``) and the scenario names."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["ALL_SCENARIOS", "FULL", "LIMIT_SCENARIOS", "QUICK", "Scale"]

#: Scenario names, in report order.
ALL_SCENARIOS: tuple[str, ...] = (
    "store",
    "update",
    "get",
    "join",
    "chord",
    "chord_2proc",
    "cleanup",
    "worker",
)
#: What the bare-driver limit can do: it is a row, not a backend.
LIMIT_SCENARIOS: tuple[str, ...] = ("store", "update", "get")


@dataclass(frozen=True)
class Scale:
    """How much work each scenario does; the same for every implementation of a target.

    Attributes:
        repeats: timed runs of ``store``, ``update``, ``get``, ``join`` (the suite runs these
            scenarios in several interleaved passes of one repeat each).
        store: new results written per run of ``store``.
        update: results taken through STARTED then SUCCESS per run of ``update``.
        get: results read per run of ``get`` (cycling over ``get_distinct`` stored ones).
        join: members of the group joined by ``join``.
        chord: header parts of each chord.
        chord_runs: timed chords.
        twoproc_runs: chords whose parts return from two processes at once.
        cleanup_repeats: timed runs of ``cleanup``.
        cleanup_rows: expired rows deleted per run of ``cleanup``.
        cleanup_small_rows: a smaller backlog whose peak memory is compared with the large one.
        cleanup_keep: fresh rows that cleanup must leave alone.
        worker_samples: tasks timed through a real worker.
        count_ops: operations in the untimed round-trip counting pass.
    """

    repeats: int
    store: int
    update: int
    get: int
    join: int
    chord: int
    chord_runs: int
    twoproc_runs: int
    cleanup_repeats: int
    cleanup_rows: int
    cleanup_small_rows: int
    cleanup_keep: int
    worker_samples: int
    get_distinct: int = 200
    count_ops: int = 20

    def for_vendor(self, vendor: str) -> Scale:
        """This scale with fewer writes where every commit waits for the disk.

        Each autocommitted write on SQLite waits for an fsync (about 5 ms on this kind of
        machine) and MariaDB flushes its redo log per commit; the write scenarios shrink there
        so a full run stays within its time budget. Reads are not scaled.
        """
        factor = {"sqlite": 0.15, "mysql": 0.5}.get(vendor, 1.0)
        return replace(
            self,
            store=max(50, int(self.store * factor)),
            update=max(50, int(self.update * factor)),
        )


FULL = Scale(
    repeats=5,
    store=2000,
    update=1000,
    get=2000,
    join=500,
    chord=200,
    chord_runs=5,
    twoproc_runs=20,
    cleanup_repeats=5,
    cleanup_rows=100_000,
    cleanup_small_rows=10_000,
    cleanup_keep=1000,
    worker_samples=30,
)
#: The full scale at about a tenth of the work; joins and chords keep their size.
QUICK = replace(
    FULL,
    repeats=3,
    store=200,
    update=100,
    get=200,
    chord_runs=2,
    twoproc_runs=3,
    cleanup_repeats=2,
    cleanup_rows=10_000,
    cleanup_small_rows=1000,
    cleanup_keep=100,
    worker_samples=3,
)
