"""The worker scenario: from a task's end to ``AsyncResult.get()`` returning, with a real worker."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import Celery

from benchmarks.scenarios.bench import STAMP_TASK, Bench, make_app
from benchmarks.scenarios.measure import count_summary, counting, ok_result, skipped

__all__ = ["scenario_worker"]

#: The directory holding the ``benchmarks`` package, for the worker subprocess.
REPO_ROOT = Path(__file__).resolve().parents[2]


def scenario_worker(bench: Bench) -> dict[str, Any]:
    """Latency from a task's end to ``AsyncResult.get()`` returning, with a real worker.

    The worker is a subprocess (prefork pool, 2 processes) on RabbitMQ, running this same
    package (``python -m benchmarks.scenarios worker``). Each task sleeps a random 50-300 ms
    (so the client's polls fall at random phases) and returns the time it ended; the client's
    ``get()`` uses Celery's defaults.
    """
    config = bench.worker_config
    if not config or not config.get("broker_url"):
        return skipped("no broker configured")
    if bench.vendor == "locmem":
        return skipped("a local-memory cache is private to each process")
    queue = f"dcr-bench-{bench.tag}"
    client = make_app(
        config["backend"],
        broker_url=config["broker_url"],
        queue=queue,
        capture=False,
        result_expires=bench.app.conf.result_expires,
    )
    with tempfile.TemporaryDirectory(prefix="dcr-bench-worker-") as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        log_path = Path(tmp, "worker.log")
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.scenarios",
                    "worker",
                    "--config",
                    str(config_path),
                    "--queue",
                    queue,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_worker_env(),
            )
        try:
            latencies, counts = _sample_latencies(bench, client, queue)
        except Exception as exc:
            raise RuntimeError(f"{exc}\n--- worker log\n{log_path.read_text()[-3000:]}") from exc
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            with contextlib.suppress(Exception), client.connection_for_write() as conn:
                channel: Any = conn.default_channel
                channel.queue_delete(queue)
    return ok_result(latencies, "s/get", count_summary(counts), samples=len(latencies))


def _worker_env() -> dict[str, str]:
    """This process's environment, with the repository root importable (``benchmarks``)."""
    paths = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _sample_latencies(bench: Bench, client: Celery, queue: str) -> tuple[list[float], list[int]]:
    rng = random.Random(42)
    # The first task waits for the worker to start.
    client.send_task(STAMP_TASK, args=[0.0], queue=queue).get(timeout=180)
    latencies: list[float] = []
    counts: list[int] = []
    for _ in range(bench.scale.worker_samples):
        result = client.send_task(STAMP_TASK, args=[rng.uniform(0.05, 0.3)], queue=queue)
        with counting(bench) as trips:
            ended = float(result.get(timeout=60))
            returned = time.time()
            counts.append(trips.take())
        latencies.append(returned - ended)
    return latencies, counts
