"""Where the run happened: the machine, its load, the revision measured, the stack compared."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.suite.config import REPO

__all__ = ["git_revision", "load_average", "machine", "same_stack"]


def same_stack(ours: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether both packages ran on the same Python, Django, Celery, kombu and drivers."""
    keys = ("python", "django", "celery", "kombu", "psycopg", "mysqlclient", "redis", "pymemcache")
    return bool(ours and old) and all(ours.get(k) == old.get(k) for k in keys)


def machine() -> str:
    """CPUs, memory and kernel of this machine, in one line."""
    model = "?"
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory} RAM, {platform.system()} {platform.release()}"
    )


def load_average() -> str:
    """The load average over 1, 5 and 15 minutes."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def git_revision() -> str:
    """The commit measured, and whether ``src/`` had uncommitted changes."""
    try:
        revision = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {revision}{' + uncommitted changes in src/' if dirty else ''}"
