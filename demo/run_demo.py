"""The demo: a real Celery worker stores results in SQLite through ``django-db``.

Run it with ``./scripts/demo`` from the repository root. It

1. creates a fresh SQLite database in ``demo-data/`` and runs ``migrate``;
2. starts ``celery worker`` as a subprocess (broker: kombu's file-system transport);
3. sends a task that succeeds, one that fails, one that retries, a chain and a group;
4. waits for each result through ``AsyncResult`` / ``GroupResult``, as an application would;
5. prints the rows the backend stored in ``TaskResult`` and ``GroupResult``.

It exits with 0 when every result is what the tasks should produce.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent  # on sys.path as the script's folder: demoproject imports
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoproject.settings")

import django  # noqa: E402 - DJANGO_SETTINGS_MODULE must be set first

django.setup()

from celery import chain, group  # noqa: E402
from celery.result import AsyncResult, GroupResult, result_from_tuple  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from demoproject.celery import app  # noqa: E402
from demoproject.tasks import add, fail, flaky, mul  # noqa: E402
from django_celery_results import models  # noqa: E402

TIMEOUT = 60.0


def main() -> int:
    """Run the demo; return the process exit status."""
    data: Path = settings.DEMO_DATA
    shutil.rmtree(data, ignore_errors=True)
    for folder in ("broker/queue", "broker/control"):
        (data / folder).mkdir(parents=True)

    step(f"migrate: SQLite database {data / 'db.sqlite3'}")
    call_command("migrate", verbosity=0)

    with celery_worker(data / "worker.log") as worker:
        step("sending: add, fail, flaky (retries twice), a chain and a group")
        sent = {
            "add(2, 2)": add.delay(2, 2),
            "fail('boom')": fail.delay("boom"),
            "flaky(2)": flaky.delay(2),
            "add(2, 3) | mul(10) | add(1)": chain(add.s(2, 3), mul.s(10), add.s(1)).delay(),
        }
        sent_group = group(add.s(i, i) for i in range(4)).delay()
        sent_group.save()  # stores the group (its member ids) in GroupResult

        step("waiting for the results (AsyncResult / GroupResult, polling the database)")
        for label, result in sent.items():
            wait(result, worker)
            print(f"  {label:<30} {result.state:<8} {result.result!r}")
        restored = GroupResult.restore(sent_group.id, app=app)
        assert restored is not None, "the saved group was not found"
        wait(restored, worker)
        print(f"  {'group(add(i, i) for i in 0..3)':<30} {'SUCCESS':<8} {restored.get()!r}")

    step("read back through AsyncResult, with result_extended on")
    again = AsyncResult(sent["flaky(2)"].id, app=app)
    print(f"  name={again.name!r} args={again.args!r} worker={again.worker!r}")
    print(f"  retries={again.retries!r} state={again.state!r} result={again.result!r}")

    print_stored_rows()
    failed = sent["fail('boom')"]
    step(f"traceback stored for fail('boom') ({failed.id[:8]})")
    print("  " + (failed.traceback or "(none)").strip().replace("\n", "\n  "))

    expected = {
        "add(2, 2)": ("SUCCESS", 4),
        "flaky(2)": ("SUCCESS", "ok after 2 retries"),
        "add(2, 3) | mul(10) | add(1)": ("SUCCESS", 51),
    }
    problems = [
        f"{label}: got {sent[label].state} {sent[label].result!r}, expected {state} {value!r}"
        for label, (state, value) in expected.items()
        if (sent[label].state, sent[label].result) != (state, value)
    ]
    if failed.state != "FAILURE" or not isinstance(failed.result, ValueError):
        problems.append(f"fail('boom'): got {failed.state} {failed.result!r}")
    if not failed.traceback or "ValueError: boom" not in failed.traceback:
        problems.append("fail('boom'): no traceback stored")
    if restored.get() != [0, 2, 4, 6]:
        problems.append(f"group: got {restored.get()!r}")
    for problem in problems:
        print(f"UNEXPECTED: {problem}", file=sys.stderr)
    print("\nDemo finished: " + ("every result as expected." if not problems else "FAILED."))
    print(f"Explore the database: DEMO_DATA_DIR={data} .venv/bin/python demo/manage.py shell")
    return 1 if problems else 0


@contextmanager
def celery_worker(logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery -A demoproject worker`` for the duration of the block."""
    command = [
        sys.executable, "-m", "celery", "-A", "demoproject", "worker",
        "--pool=solo", "--hostname=demo-worker@%h", "--loglevel=INFO",
        # The file-system broker has no use for cluster chatter; skipping it starts faster.
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    step("starting: " + " ".join(command[2:]) + f" (log: {logfile})")
    with logfile.open("ab") as log:
        worker = subprocess.Popen(command, cwd=HERE, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        worker.terminate()  # SIGTERM: a warm shutdown
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait(result: AsyncResult | GroupResult, worker: subprocess.Popen[bytes]) -> None:
    """Wait until ``result`` is ready, failing fast if the worker died."""
    deadline = time.monotonic() + TIMEOUT
    while not result.ready():
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with status {worker.returncode}; see its log")
        if time.monotonic() > deadline:
            raise SystemExit(f"no result for {result.id} after {TIMEOUT:.0f}s; see the worker log")
        time.sleep(0.1)


def print_stored_rows() -> None:
    """Print what the backend stored: every TaskResult and GroupResult row."""
    step("stored in django_celery_results_taskresult")
    tasks = models.TaskResult.objects.order_by("date_created", "id")
    print_table(
        ["task_id", "task_name", "status", "result", "worker", "created", "done", "traceback"],
        [
            [
                t.task_id[:8],
                (t.task_name or "").rpartition(".")[2],
                t.status,
                t.result,
                t.worker,
                clock(t.date_created),
                clock(t.date_done),
                last_line(t.traceback),
            ]
            for t in tasks
        ],
        widths=[8, 9, 7, 26, 22, 12, 12, 24],
    )
    step("stored in django_celery_results_groupresult")
    print_table(
        ["group_id", "result: the member task ids", "created", "done"],
        [
            [g.group_id[:8], member_ids(g.result), clock(g.date_created), clock(g.date_done)]
            for g in models.GroupResult.objects.order_by("date_created")
        ],
        widths=[8, 60, 12, 12],
    )


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int]
) -> None:
    """Print ``rows`` under ``headers``, each cell cut to its column's maximum width."""
    cells = [[cut(value, width) for value, width in zip(row, widths, strict=True)] for row in rows]
    sizes = [
        max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)
    ]
    for line in [list(headers), ["-" * size for size in sizes], *cells]:
        padded = [cell.ljust(size) for cell, size in zip(line, sizes, strict=True)]
        print("  " + "  ".join(padded).rstrip())


def cut(value: Any, width: int) -> str:
    """``value`` as text on one line, at most ``width`` characters (an ellipsis marks a cut)."""
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def member_ids(stored: str | None) -> str:
    """The member ids in a stored group (JSON of Celery's result tuple), shortened."""
    if not stored:
        return ""
    restored = result_from_tuple(json.loads(stored), app=app)
    return " ".join(member.id[:8] for member in getattr(restored, "results", None) or [])


def clock(moment: datetime | None) -> str:
    """The time of day of ``moment`` to the millisecond (the demo runs within seconds)."""
    return "" if moment is None else moment.strftime("%H:%M:%S.%f")[:-3]


def last_line(traceback: str | None) -> str:
    """The traceback's last line: the exception, which says more than its first line."""
    return traceback.strip().splitlines()[-1] if traceback else ""


def step(message: str) -> None:
    """Announce a step of the demo."""
    print(f"\n== {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
