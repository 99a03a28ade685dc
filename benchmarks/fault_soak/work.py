"""The work of a soak: sent, waited for (read directly), checked; the logs read for counts."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.fault_soak.plan import BATCH, Expected, SoakReport, Workload

__all__ = ["check_results", "read_proxy_log", "read_worker_log", "send_work", "wait_ready"]


def send_work(workload: Workload) -> tuple[dict[str, Expected], dict[str, int], dict[str, str]]:
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


def wait_ready(
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


def check_results(
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


def read_worker_log(report: SoakReport, log: Path) -> None:
    """Count the worker's backend retries, the deepest one, give-ups and other errors."""
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


def read_proxy_log(report: SoakReport, log: Path) -> None:
    """Take the proxy's own summary (cuts, connections reset, refusals) into ``report``."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "summary":
                report.proxy = {
                    k: event[k]
                    for k in ("cuts", "connections_cut", "refusal_seconds", "accepted", "refused")
                }
