"""The processes around a soak: the fault proxy in front of the store, the prefork worker."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.fault_soak.plan import REPO, UPSTREAM_PORTS, FaultSchedule

__all__ = ["drop_queue", "fault_proxy", "soak_worker"]


@contextlib.contextmanager
def fault_proxy(store: str, schedule: FaultSchedule, lifetime: float, log: Path) -> Iterator[Any]:
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
        _stop(process, 10, process.kill)


@contextlib.contextmanager
def soak_worker(env: dict[str, str], queue: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
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
        _stop(process, 30, lambda: os.killpg(process.pid, signal.SIGKILL))
        # The worker's session is its own (start_new_session): whatever is left is its pool.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def drop_queue(app: Any, queue: str) -> None:
    """Purge and delete the run's queue on the broker (whatever is left in it)."""
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        with contextlib.suppress(Exception):
            channel.queue_purge(queue)
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)


def _stop(process: subprocess.Popen[bytes], seconds: float, kill: Callable[[], None]) -> None:
    """SIGTERM, up to ``seconds`` to exit, then ``kill`` and up to ``seconds`` more."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            kill()
            process.wait(timeout=seconds)
