"""``.venv-bench-old``: the old package with exactly this venv's Django, Celery and drivers."""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.suite.config import OLD_PACKAGE, OLD_VENV, REPO, say

__all__ = ["clean_env", "ensure_old_venv", "old_requirements", "venv_python"]


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def old_requirements() -> list[str]:
    """The old package, with exactly this venv's Django, Celery, kombu and drivers."""
    pins = {
        "django": "django",
        "celery": "celery",
        "kombu": "kombu",
        "psycopg": "psycopg[binary]",
        "psycopg-binary": "psycopg-binary",
        "mysqlclient": "mysqlclient",
        "redis": "redis",
        "pymemcache": "pymemcache",
    }
    requirements = [OLD_PACKAGE]
    for distribution, requirement in pins.items():
        version = _installed(distribution)
        if version:
            requirements.append(f"{requirement}=={version}")
    return requirements


def venv_python(venv: Path) -> Path:
    """The Python of ``venv``."""
    return venv / "bin" / "python"


def ensure_old_venv() -> Path:
    """``.venv-bench-old`` with the old package (rebuilt when the requirements change)."""
    requirements = old_requirements()
    stamp = OLD_VENV / "bench-requirements.json"
    lock_path = REPO / ".bench" / "old-venv.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        works = (
            subprocess.run(
                [str(venv_python(OLD_VENV)), "-c", "import django_celery_results"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
            if venv_python(OLD_VENV).exists()
            else False
        )
        if works and stamp.exists() and json.loads(stamp.read_text()) == requirements:
            return venv_python(OLD_VENV)
        say(f"Building {OLD_VENV.name}: {' '.join(requirements)}")
        shutil.rmtree(OLD_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(OLD_VENV)], check=True)
        log = OLD_VENV / "pip-install.log"
        with log.open("w") as out:
            pip = subprocess.run(
                [
                    str(venv_python(OLD_VENV)),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                check=False,
            )
        if pip.returncode != 0:
            tail = log.read_text()[-2000:]
            raise RuntimeError(f"pip install of the old package failed (log {log}):\n{tail}")
        stamp.write_text(json.dumps(requirements))
    return venv_python(OLD_VENV)


def clean_env() -> dict[str, str]:
    """This environment without the variables that would leak into another venv."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in dropped}
