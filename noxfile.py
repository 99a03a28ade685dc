"""The test matrix (issue 11): one nox session per Python x Django x Celery x PostgreSQL driver.

Five cells cover every supported Python, Django and Celery at least once, both PostgreSQL
drivers, the oldest versions together and the newest together. Each cell is a uv-made venv
with our package installed editable and Django, Celery and kombu pinned to one minor series
(kombu follows Celery's minor: ``celery==5.3.*`` alone would resolve today's kombu 5.7).

``./scripts/matrix`` runs nox from a venv of its own (``.venv-matrix``, nox and uv installed
on first use) and passes its arguments on; ``./scripts/matrix --ci`` runs the cells tagged
``covering`` two at a time, as CI does. With nox and uv on PATH, nox itself works the same::

    nox --list                                      # the cells
    nox -s "tests(py3.10-dj4.2-celery5.3-psycopg)"  # one cell
    nox -s tests                                    # every cell, one after another
    nox -s "tests(py3.10-dj4.2-celery5.3-psycopg)" "tests(py3.13-dj6.1-celery5.7-psycopg)"  # two
    nox -k "dj5 or psycopg2"                        # cells by keyword (words without dots)
    nox -s tests -- tests/unit -q -x                # some tests: args after -- go to pytest

Without arguments a cell runs ``-m "not stress" tests/unit tests/integration`` on SQLite and
PostgreSQL (``TEST_DATABASES=default,postgres`` unless set: MariaDB runs in the main venv).
Interpreters are pyenv's, found by full path (``<pyenv root>/versions/3.12.*/bin/python3.12``)
because pyenv's shims fail for versions that are not selected; a cell whose Python is missing
fails with "Python interpreter <that path> not found" (``pyenv install 3.12`` fixes it). The
venvs are reused; after changing a pin, pass ``--no-reuse-existing-virtualenvs``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent

#: (python, django, celery, postgres driver) per cell. Django 6.x needs Python >= 3.12; the
#: psycopg2 cell installs psycopg2-binary instead of the ``postgres`` extra, since Django uses
#: psycopg 3 whenever it is importable.
CELLS = [
    ("3.10", "4.2", "5.3", "psycopg"),
    ("3.11", "5.2", "5.4", "psycopg2"),
    ("3.12", "6.0", "5.5", "psycopg"),
    ("3.10", "5.2", "5.6", "psycopg"),
    ("3.13", "6.1", "5.7", "psycopg"),
]

#: The newest combination: what ``./scripts/test`` installs in ``.venv`` on a machine with
#: Python 3.13, where CI runs the whole suite (every database, cache and worker). CI runs the
#: other cells, tagged ``covering``, through ``./scripts/matrix --ci``.
NEWEST = CELLS[-1]

#: kombu's series for each Celery minor (the lowest bound: what that Celery requires).
KOMBU = {
    "5.3": "kombu>=5.3.4,<5.4",
    "5.4": "kombu>=5.4,<5.5",
    "5.5": "kombu>=5.5.2,<5.6",
    "5.6": "kombu>=5.6,<5.7",
    "5.7": "kombu>=5.7,<5.8",
}

DEFAULT_PYTEST_ARGS = ["-q", "-m", "not stress", "tests/unit", "tests/integration"]


def _pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if answer.returncode == 0 and answer.stdout.strip():
            return Path(answer.stdout.strip())
    return Path.home() / ".pyenv"


def interpreter(version: str) -> str:
    """The newest pyenv-installed ``python<version>``, by full path.

    When none is installed, the pattern searched: nox then fails the cell with "Python
    interpreter <pattern> not found", which names what to install (a bare "3.12" would let uv
    pick or download some other Python).
    """
    versions = _pyenv_root() / "versions"
    pattern = f"{version}.*/bin/python{version}"
    # Newest patch release first: compare the numbers, not the text (3.12.10 > 3.12.9).
    found = sorted(
        versions.glob(pattern),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    return str(found[-1]) if found else str(versions / pattern)


@nox.session(name="tests")
@nox.parametrize(
    ("python", "django", "celery", "driver"),
    [
        nox.param(
            interpreter(py),
            dj,
            cel,
            drv,
            id=f"py{py}-dj{dj}-celery{cel}-{drv}",
            tags=[] if (py, dj, cel, drv) == NEWEST else ["covering"],
        )
        for py, dj, cel, drv in CELLS
    ],
)
def tests(session: nox.Session, django: str, celery: str, driver: str) -> None:
    """Install one cell's versions and run pytest (the arguments after ``--``, or the suite)."""
    extras = "dev,mysql,redis,memcached" + (",postgres" if driver == "psycopg" else "")
    pins = [f"django=={django}.*", f"celery=={celery}.*", KOMBU[celery]]
    if driver == "psycopg2":
        pins.append("psycopg2-binary")
    session.install("-e", f"{ROOT}[{extras}]", *pins)
    session.env["TEST_DATABASES"] = os.environ.get("TEST_DATABASES", "default,postgres")
    session.chdir(ROOT)
    args = session.posargs or DEFAULT_PYTEST_ARGS
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *args)
