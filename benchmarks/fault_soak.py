"""The fault soak: a real worker stores thousands of results through a proxy that breaks.

For each store (PostgreSQL and MariaDB through ``django-db``, Redis through ``django-cache``):

1. a scratch database (or a key prefix on Redis) is made and migrated, directly;
2. ``benchmarks/faultproxy.py`` listens on a loopback port in front of the store;
3. a prefork worker (2 processes, ``benchmarks/soak_app.py``, RabbitMQ, a queue of its own)
   reaches the store only through the proxy, with ``result_backend_always_retry`` and the
   README's retry settings;
4. the work is sent: single tasks (most succeed, some fail on purpose, some retry through
   Celery's ``Task.retry`` before succeeding), groups of 50 and chords of 50 whose callback
   notes each of its runs in a file (directly, never through the proxy);
5. once the worker is busy, the proxy's faults begin: every live connection reset at random
   every 0.5-3 s, and all connections refused once for 10 s;
6. the driver waits for every result, reading the store directly (not through the proxy), then
   checks each one: the state and result each task must end with, each chord callback run
   exactly once. It prints the counts and exits 1 on any loss, wrong state or doubled callback.

``./scripts/fault-soak`` runs it (``--short`` for CI's few-minute version, ``--help`` for all);
RELIABILITY.md holds the figures of the full run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".bench" / "fault-soak"
STORES = ("postgresql", "mariadb", "redis")
UPSTREAM_PORTS = {"postgresql": 5432, "mariadb": 3306, "redis": 6379}
#: Size of every group and chord header.
BATCH = 50


def _say(message: str) -> None:
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
        examples: the first lost or wrong tasks, and anything else amiss, described.
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
    examples: list[str] = field(default_factory=list)
    callbacks_once: int = 0
    callbacks_lost: int = 0
    callbacks_doubled: int = 0
    callbacks_recovered: int = 0
    backend_retries: int = 0
    deepest_retry: int = 0
    gave_up: int = 0
    worker_errors: list[str] = field(default_factory=list)
    proxy: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing wrong, every callback once."""
        return not (self.lost or self.wrong or self.callbacks_lost or self.callbacks_doubled)


# -- the store: a scratch database or key prefix ---------------------------------------------


def _create_store(store: str, name: str) -> None:
    if store == "postgresql":
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=5432, user=_pg_user(), dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    elif store == "mariadb":
        connection = _mariadb_admin()
        try:
            connection.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            connection.close()


def _drop_store(store: str, name: str) -> None:
    if store == "postgresql":
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=5432, user=_pg_user(), dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    elif store == "mariadb":
        connection = _mariadb_admin()
        try:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            connection.close()
    else:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=_redis_db())
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def _pg_user() -> str:
    return os.environ.get("TEST_PG_USER", "postgres")


def _redis_db() -> int:
    return int(os.environ.get("DCR_SOAK_REDIS_DB", "13"))


def _mariadb_admin() -> Any:
    import MySQLdb

    return MySQLdb.connect(
        host="127.0.0.1",
        port=3306,
        user=os.environ.get("TEST_MARIADB_USER", "root"),
        password=os.environ.get("TEST_MARIADB_PASSWORD", ""),
    )


# -- the proxy and the worker ----------------------------------------------------------------


@contextlib.contextmanager
def _proxy(store: str, schedule: FaultSchedule, lifetime: float, log: Path) -> Iterator[Any]:
    """Run the fault proxy in front of ``store``; yield (port, process); stop it after."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.faultproxy",
        "--upstream-port",
        str(UPSTREAM_PORTS[store]),
        "--lifetime",
        str(lifetime),
        "--faults-on-signal",
        *schedule.proxy_arguments(),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    try:
        port = 0
        deadline = time.monotonic() + 20
        while not port:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fault proxy did not start: {log.read_text()[-2000:]}")
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())
            if found:
                port = int(found.group(1))
            else:
                time.sleep(0.05)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def _worker(env: dict[str, str], queue: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A prefork worker (2 processes) on ``queue``; warm shutdown, then kill, on the way out."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "benchmarks.soak_app",
        "worker",
        "-P",
        "prefork",
        "-c",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "-l",
        "WARNING",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        # The worker's session is its own (start_new_session): whatever is left is its pool.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _drop_queue(app: Any, queue: str) -> None:
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        with contextlib.suppress(Exception):
            channel.queue_purge(queue)
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)


# -- the work --------------------------------------------------------------------------------


def _send(workload: Workload) -> tuple[dict[str, Expected], dict[str, int], dict[str, str]]:
    """Send the work: return each task's expected end, callback sums, callbacks by chord."""
    from celery import chord, group, states

    from benchmarks import soak_app

    expected: dict[str, Expected] = {}
    callbacks: dict[str, int] = {}
    chords: dict[str, str] = {}
    value = 0
    for n in range(workload.singles):
        value += 1
        if n % 10 == 3:
            result = soak_app.fail.delay(value)
            expected[result.id] = Expected("failing", states.FAILURE, f"deliberate failure {value}")
        elif n % 10 == 5:
            result = soak_app.flaky.delay(value, 1 + n % 3)
            expected[result.id] = Expected("retrying", states.SUCCESS, 3 * value)
        else:
            result = soak_app.double.delay(value)
            expected[result.id] = Expected("single", states.SUCCESS, 2 * value)
    for _ in range(workload.groups):
        values = range(value + 1, value + 1 + BATCH)
        value += BATCH
        group_result: Any = group(soak_app.double.s(v) for v in values).apply_async()
        for member, v in zip(group_result.results, values, strict=True):
            expected[member.id] = Expected("group", states.SUCCESS, 2 * v)
    for _ in range(workload.chords):
        values = range(value + 1, value + 1 + BATCH)
        value += BATCH
        callback: Any = chord(soak_app.double.s(v) for v in values)(soak_app.collect.s())
        for member, v in zip(callback.parent.results, values, strict=True):
            expected[member.id] = Expected("header", states.SUCCESS, 2 * v)
        total = sum(2 * v for v in values)
        expected[callback.id] = Expected("callback", states.SUCCESS, total)
        callbacks[callback.id] = total
        chords[callback.parent.id] = callback.id
    return expected, callbacks, chords


class _StalledError(Exception):
    """No result became ready for longer than the stall limit: the rest are lost."""


def _wait_ready(
    ids: Sequence[str], deadline: float, stall: float
) -> tuple[dict[str, dict[str, Any]], float]:
    """Read the results directly until all are ready, ``deadline`` (monotonic) or a stall.

    Returns the ready results' metas and when (monotonic) the last of them was read.

    A stall is ``stall`` seconds with no result becoming ready: longer than any outage the
    retry settings ride out, so whatever is still pending then will not come (a lost chord
    part, a lost callback) and waiting on to the deadline would only cost time.
    """
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from benchmarks import soak_app

    metas: dict[str, dict[str, Any]] = {}
    backend: Any = soak_app.app.backend
    progress = [time.monotonic()]

    def on_message(meta: dict[str, Any]) -> None:
        progress[0] = time.monotonic()

    def on_interval() -> None:
        if time.monotonic() - progress[0] > stall:
            raise _StalledError

    with contextlib.suppress(CeleryTimeoutError, _StalledError):
        # update() keeps each pair as it comes, so a timeout keeps those read before it.
        metas.update(
            backend.get_many(
                list(ids),
                timeout=max(1.0, deadline - time.monotonic()),
                interval=1.0,
                on_message=on_message,
                on_interval=on_interval,
            )
        )
    return metas, progress[0]


def _check(
    report: SoakReport,
    expected: dict[str, Expected],
    callbacks: dict[str, int],
    metas: dict[str, dict[str, Any]],
    runs: Path,
) -> None:
    """Count correct, lost and wrong results, and how often each chord callback ran."""
    from celery import states

    from benchmarks import soak_app

    backend = soak_app.app.backend
    for task_id, want in expected.items():
        meta = metas.get(task_id)
        if meta is None:
            # Not ready by the deadline: read it once more, uncached, to say what it is.
            meta = backend.get_task_meta(task_id, cache=False)
            if meta["status"] not in states.READY_STATES:
                report.lost += 1
                if len(report.examples) < 20:
                    report.examples.append(f"{want.kind} {task_id}: lost ({meta['status']})")
                continue
        state, result = meta["status"], meta.get("result")
        if want.state == states.FAILURE:
            right = state == states.FAILURE and want.result in str(result)
        else:
            right = state == want.state and result == want.result
        if right:
            report.correct += 1
            continue
        report.wrong += 1
        if len(report.examples) < 20:
            report.examples.append(f"{want.kind} {task_id}: {state} {result!r:.200}")
    ran = Counter(line.strip() for line in runs.read_text().splitlines() if line.strip())
    for callback_id in callbacks:
        times = ran.get(callback_id, 0)
        if times == 0:
            report.callbacks_lost += 1
        elif times > 1:
            report.callbacks_doubled += 1
            report.examples.append(f"callback {callback_id} ran {times} times")
        else:
            report.callbacks_once += 1
    strangers = set(ran) - set(callbacks)
    if strangers:
        report.wrong += len(strangers)
        report.examples.append(f"callback runs of unknown ids: {sorted(strangers)[:5]}")


def _read_worker_log(report: SoakReport, log: Path) -> None:
    from benchmarks.soak_settings import RETRY_SETTINGS

    text = log.read_text(encoding="utf-8", errors="replace")
    left = [int(n) for n in re.findall(r"Failed operation \S+\. Retrying (\d+) more", text)]
    report.backend_retries = len(left)
    limit = int(RETRY_SETTINGS["result_backend_max_retries"])
    report.deepest_retry = max((limit - n for n in left), default=0)
    report.gave_up = len(re.findall(r"BackendStoreError|BackendGetMetaError", text))
    for line in text.splitlines():
        # The deliberate failures log an ERROR each; anything else is worth showing.
        deliberate = "deliberate failure" in line
        if "ERROR" in line and not deliberate and len(report.worker_errors) < 10:
            report.worker_errors.append(line[:300])


def _read_proxy_log(report: SoakReport, log: Path) -> None:
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "summary":
                report.proxy = {
                    k: event[k]
                    for k in ("cuts", "connections_cut", "refusal_seconds", "accepted", "refused")
                }


# -- one store -------------------------------------------------------------------------------


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
    _create_store(store, run_id)
    try:
        from django.core.management import call_command

        from benchmarks import soak_app

        if store != "redis":
            call_command("migrate", verbosity=0)
        with _proxy(store, schedule, deadline + 60, work / "proxy.log") as (port, proxy):
            pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
            env = {**os.environ, **common, "DCR_SOAK_PORT": str(port), "PYTHONPATH": pythonpath}
            try:
                with _worker(env, queue, work / "worker.log"):
                    started = time.monotonic()
                    expected, callbacks, chords = _send(workload)
                    report.sent = dict(Counter(e.kind for e in expected.values()))
                    _say(
                        f"{store}: sent {len(expected)} tasks in {time.monotonic() - started:.1f} s"
                    )
                    _begin_faults_when_busy(soak_app, list(expected), proxy, started + 60)
                    metas, last_ready = _wait_ready(list(expected), started + deadline, stall)
                    report.seconds = last_ready - started
                    _say(f"{store}: {len(metas)} of {len(expected)} ready")
                    if recover:
                        metas.update(
                            _recover(report, soak_app, expected, metas, chords, runs, stall)
                        )
                    # A callback that runs twice runs soon after the first time: give it time.
                    time.sleep(3)
            finally:
                _drop_queue(soak_app.app, queue)
        _check(report, expected, callbacks, metas, runs)
        _read_worker_log(report, work / "worker.log")
        _read_proxy_log(report, work / "proxy.log")
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("DCR_SOAK_KEEP"):
            _drop_store(store, run_id)
    sys.stdout.write(json.dumps({"store": store, "ok": report.ok, **report.__dict__}) + "\n")
    sys.stdout.flush()
    _say(f"{store}: logs in {work}")
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
        _say(f"{report.store}: this backend has no chord recovery")
        return {}
    before = Counter(runs.read_text().split())
    sent = recover_chords(grace=timedelta(0))
    report.callbacks_recovered = len(sent.sent)
    _say(f"{report.store}: chord recovery: {sent}")
    if not sent.sent:
        return {}
    pending = [i for i in expected if i not in metas]
    more, _ = _wait_ready(pending, time.monotonic() + 4 * stall, stall)
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


# -- the command line ------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        _say(f"{store}: {workload.tasks} tasks, faults {schedule}")
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
            _say(f"{store}: the run ended with no report (exit {child.returncode})")
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


if __name__ == "__main__":
    sys.exit(main())
