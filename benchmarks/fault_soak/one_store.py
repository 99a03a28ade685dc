"""One store's soak, start to end, in this process: store, proxy, worker, work, recovery, report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.fault_soak.plan import (
    REPO,
    UPSTREAM_PORTS,
    WORK,
    Expected,
    FaultSchedule,
    SoakReport,
    Workload,
    say,
)
from benchmarks.fault_soak.processes import drop_queue, fault_proxy, soak_worker
from benchmarks.fault_soak.stores import create_store, drop_store
from benchmarks.fault_soak.work import (
    check_results,
    read_proxy_log,
    read_worker_log,
    send_work,
    wait_ready,
)

__all__ = ["run_store"]


def run_store(
    store: str,
    workload: Workload,
    schedule: FaultSchedule,
    deadline: float,
    stall: float,
    recover: bool = True,
) -> int:
    """Run the soak on one store in this process (Django is set up for it here); 0 if all held."""
    run_id = f"dcr_soak_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    queue = f"dcr-soak-{run_id}"
    work = WORK / run_id
    work.mkdir(parents=True, exist_ok=True)
    runs = work / "callback-runs.txt"
    runs.touch()
    common = {
        "DCR_SOAK_STORE": store,
        "DCR_SOAK_DB": run_id,
        "DCR_SOAK_QUEUE": queue,
        "DCR_SOAK_RUNS": str(runs),
        "DJANGO_SETTINGS_MODULE": "benchmarks.soak_settings",
    }
    # This process reads and writes the store directly, never through the proxy.
    os.environ.update(common, DCR_SOAK_PORT=str(UPSTREAM_PORTS[store]))
    report = SoakReport(store, source=_source())
    create_store(store, run_id)
    try:
        from django.core.management import call_command

        from benchmarks import soak_app

        if store != "redis":
            call_command("migrate", verbosity=0)
        with fault_proxy(store, schedule, deadline + 60, work / "proxy.log") as (port, proxy):
            pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
            env = {**os.environ, **common, "DCR_SOAK_PORT": str(port), "PYTHONPATH": pythonpath}
            try:
                with soak_worker(env, queue, work / "worker.log"):
                    started = time.monotonic()
                    expected, callbacks, chords = send_work(workload)
                    report.sent = dict(Counter(e.kind for e in expected.values()))
                    say(
                        f"{store}: sent {len(expected)} tasks in {time.monotonic() - started:.1f} s"
                    )
                    _begin_faults_when_busy(soak_app, list(expected), proxy, started + 60)
                    metas, last_ready = wait_ready(list(expected), started + deadline, stall)
                    report.seconds = last_ready - started
                    say(f"{store}: {len(metas)} of {len(expected)} ready")
                    if recover:
                        metas.update(
                            _recover(report, soak_app, expected, metas, chords, runs, stall)
                        )
                    # A callback that runs twice runs soon after the first time: give it time.
                    time.sleep(3)
            finally:
                drop_queue(soak_app.app, queue)
        check_results(report, expected, callbacks, metas, runs)
        read_worker_log(report, work / "worker.log")
        read_proxy_log(report, work / "proxy.log")
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("DCR_SOAK_KEEP"):
            drop_store(store, run_id)
    sys.stdout.write(json.dumps({"store": store, "ok": report.ok, **report.__dict__}) + "\n")
    sys.stdout.flush()
    say(f"{store}: logs in {work}")
    return 0 if report.ok else 1


def _recover(
    report: SoakReport,
    soak_app: Any,
    expected: dict[str, Expected],
    metas: dict[str, dict[str, Any]],
    chords: dict[str, str],
    runs: Path,
    stall: float,
) -> dict[str, dict[str, Any]]:
    """Run the chord recovery as a deployment's scheduled one would, then wait for its work.

    Every result is ready or stalled: the worker will store nothing more by itself, so this
    is any later recovery run (``cleanup``, ``manage.py recover_chords``) with its grace
    period over. A chord whose last part was counted but whose callback was never sent (a
    reply lost after the COMMIT, a worker gone) is what recovery is for; a chord whose
    callback already ran must not be sent again (the run file would show it twice). The
    recovery reads and claims directly (not through the proxy).
    """
    from datetime import timedelta

    backend = soak_app.app.backend
    recover_chords = getattr(backend, "recover_chords", None)
    if recover_chords is None:
        say(f"{report.store}: this backend has no chord recovery")
        return {}
    before = Counter(runs.read_text().split())
    sent = recover_chords(grace=timedelta(0))
    report.callbacks_recovered = len(sent.sent)
    say(f"{report.store}: chord recovery: {sent}")
    if not sent.sent:
        return {}
    pending = [i for i in expected if i not in metas]
    more, _ = wait_ready(pending, time.monotonic() + 4 * stall, stall)
    # A callback sent again for a chord that was done already reads SUCCESS at once: wait
    # until each sent callback has run once more than before (or a minute passed).
    want = {chords[g]: before[chords[g]] + 1 for g in sent.sent if g in chords}
    until = time.monotonic() + 60
    while time.monotonic() < until:
        now = Counter(runs.read_text().split())
        if all(now[c] >= n for c, n in want.items()):
            break
        time.sleep(0.5)
    return more


def _begin_faults_when_busy(
    soak_app: Any, ids: list[str], proxy: subprocess.Popen[bytes], deadline: float
) -> None:
    """Start the proxy's faults once the worker has stored a first result (or at ``deadline``)."""
    from celery import states

    backend = soak_app.app.backend
    probe = ids[:1] + ids[len(ids) // 10 : len(ids) // 10 + 1]
    while time.monotonic() < deadline:
        if any(
            backend.get_task_meta(i, cache=False)["status"] in states.READY_STATES for i in probe
        ):
            break
        time.sleep(0.2)
    proxy.send_signal(signal.SIGUSR1)


def _source() -> str:
    """The commit checked out, and how many files under ``src/`` differ from it."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    count = len(changed.splitlines())
    return commit + (f" with {count} uncommitted files in src/" if count else "")
