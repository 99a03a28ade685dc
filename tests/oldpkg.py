"""Run code against the *old* package, ``django-celery-results==2.6.0``, in a throwaway venv.

Drop-in tests need a database that the old package created and wrote, exactly as a user's
would be. The old package cannot share our interpreter (same import name), so it lives in its
own venv, created on first use and cached between sessions:

- ``old_venv()`` creates (once) and returns the venv, under ``$DCR_OLDPKG_CACHE`` or
  ``$XDG_CACHE_HOME/dcr-oldpkg`` or ``~/.cache/dcr-oldpkg``; it pins the old package and the same
  Django feature release and Celery major version as ours, with the PostgreSQL and MySQL
  drivers. When pip cannot reach the registry the calling test skips, saying so (on CI it fails).
- ``run_old(script, env, databases=...)`` runs a Python snippet in that venv after
  ``django.setup()`` with a temporary settings module holding the given ``DATABASES``, and
  returns its stdout. ``run_current`` does the same with this package, in this interpreter.
- ``scratch_database(alias)`` makes an empty database on the server behind one of
  ``tests.settings.DATABASES``'s aliases (a file for SQLite) and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import celery
import django
import pytest

from tests import deprecations
from tests import settings as test_settings

OLD_PACKAGE = "django-celery-results==2.6.0"

#: Signs in pip's output that the registry (not the packages) is the problem.
_UNREACHABLE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "No matching distribution found",
    "Could not find a version that satisfies",
    "ConnectTimeoutError",
    "ReadTimeoutError",
)

_ENV_DROPPED = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
)

_counter = itertools.count()

#: ``tests/deprecations.py``'s source, for ``run_current``'s scripts (they cannot import tests).
_DEPRECATIONS_SOURCE = Path(deprecations.__file__).read_text(encoding="utf-8")


def _requirements() -> list[str]:
    # The same Django feature release (so the schema editor emits the same DDL) and the same
    # Celery major version as ours.
    dj_major, dj_minor = django.VERSION[:2]
    celery_major = int(celery.__version__.split(".")[0])
    return [
        OLD_PACKAGE,
        f"django>={dj_major}.{dj_minor},<{dj_major}.{dj_minor + 1}",
        f"celery>={celery_major},<{celery_major + 1}",
        "psycopg[binary]>=3.1",
        "mysqlclient>=2.2.1",
    ]


def _cache_root() -> Path:
    if os.environ.get("DCR_OLDPKG_CACHE"):
        return Path(os.environ["DCR_OLDPKG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dcr-oldpkg"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # pytest-xdist workers may all ask for the venv at once; one builds it, the others wait.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no concurrent builds expected there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unavailable(reason: str) -> None:
    if test_settings.IN_CI:
        pytest.fail(f"CI=true but the old package's venv cannot be built: {reason}")
    pytest.skip(f"the old package's venv cannot be built: {reason}")


def old_venv() -> Path:
    """The venv holding the old package (created and cached on first use).

    Skips the calling test when pip cannot reach the package registry (fails on CI).
    """
    requirements = _requirements()
    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    key = (
        f"{OLD_PACKAGE.replace('==', '-')}-{version}-django{django.VERSION[0]}.{django.VERSION[1]}"
    )
    venv = _cache_root() / key
    marker = venv / "dcr-requirements.json"
    with _exclusive(_cache_root() / f"{key}.lock"):
        if marker.exists() and json.loads(marker.read_text()) == requirements:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", *requirements],
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=900,
        )
        if pip.returncode != 0:
            output = (pip.stdout + pip.stderr).strip()
            shutil.rmtree(venv, ignore_errors=True)
            if any(sign in output for sign in _UNREACHABLE):
                _unavailable(f"pip cannot get {requirements}: {output[-500:]}")
            raise RuntimeError(f"pip install {requirements} failed:\n{output}")
        marker.write_text(json.dumps(requirements))
    return venv


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
    env.update(extra or {})
    return env


def _settings_source(databases: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    values: dict[str, Any] = {
        "SECRET_KEY": "dcr-subprocess",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_celery_results",
        ],
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "DATABASES": dict(databases),
        **settings,
    }
    return "".join(f"{name} = {value!r}\n" for name, value in values.items())


def run_django(
    python: Path | str,
    script: str,
    env: Mapping[str, str] | None = None,
    *,
    databases: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    modules: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> str:
    """Run ``script`` with ``python`` after ``django.setup()``; return its stdout.

    The settings module installs contenttypes, auth and ``django_celery_results`` and holds
    ``databases`` (default: an SQLite file in a temporary directory) plus ``settings``.
    ``modules`` maps module names to source code the script can import (e.g. a helper shared
    with the test process). Raises ``RuntimeError`` with the output when the script fails.
    """
    with tempfile.TemporaryDirectory(prefix="dcr-run-") as tmp:
        module = f"dcr_subprocess_settings_{next(_counter)}"
        dbs = databases or {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{tmp}/db.sqlite3"}
        }
        Path(tmp, f"{module}.py").write_text(_settings_source(dbs, settings or {}))
        for name, source in (modules or {}).items():
            Path(tmp, f"{name}.py").write_text(source)
        body = "import django\ndjango.setup()\n" + textwrap.dedent(script)
        Path(tmp, "dcr_script.py").write_text(body)
        run_env = _clean_env(env)
        run_env.update(PYTHONPATH=tmp, DJANGO_SETTINGS_MODULE=module)
        done = subprocess.run(
            [str(python), str(Path(tmp, "dcr_script.py"))],
            capture_output=True,
            text=True,
            env=run_env,
            cwd=tmp,
            timeout=timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"{python} failed ({done.returncode}):\n--- stdout\n{done.stdout}\n"
            f"--- stderr\n{done.stderr}"
        )
    return done.stdout


def run_old(
    script: str,
    env: Mapping[str, str] | None = None,
    *,
    databases: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    modules: Mapping[str, str] | None = None,
) -> str:
    """Run ``script`` with the old package installed (see ``run_django``); return its stdout."""
    python = _venv_python(old_venv())
    return run_django(python, script, env, databases=databases, settings=settings, modules=modules)


def run_current(
    script: str,
    env: Mapping[str, str] | None = None,
    *,
    databases: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    modules: Mapping[str, str] | None = None,
) -> str:
    """Run ``script`` with this package, in a fresh process of this interpreter.

    Deprecation warnings are errors there, as in the test run (``tests.deprecations``, copied
    in as ``dcr_deprecations``), Celery's test worker's logging set-up included; the old
    package's runs (``run_old``) are left as they are: it may warn, we cannot change it.
    """
    guarded = "import dcr_deprecations\ndcr_deprecations.install()\n" + textwrap.dedent(script)
    return run_django(
        sys.executable,
        guarded,
        deprecations.environ(env or {}),
        databases=databases,
        settings=settings,
        modules={**(modules or {}), "dcr_deprecations": _DEPRECATIONS_SOURCE},
    )


@contextlib.contextmanager
def scratch_database(alias: str, tmp_dir: Path) -> Iterator[dict[str, Any]]:
    """A new empty database on ``alias``'s server, as a ``DATABASES`` entry; dropped afterwards.

    Server databases are named ``dcr_dropin_<pid>_<n>``; SQLite gets a file in ``tmp_dir``.
    """
    configured = test_settings.DATABASES[alias]
    entry = {k: v for k, v in configured.items() if k != "TEST"}
    engine = configured["ENGINE"]
    name = f"dcr_dropin_{os.getpid()}_{next(_counter)}"
    if engine.endswith("sqlite3"):
        entry["NAME"] = str(tmp_dir / f"{name}.sqlite3")
        yield entry
        return
    if engine.endswith("postgresql"):
        from tests.pg_admin import execute, sql

        def admin(statement: Any) -> None:
            execute(
                statement,
                host=configured["HOST"],
                port=configured["PORT"],
                user=configured["USER"],
                password=configured.get("PASSWORD") or None,
            )

        ident = sql.Identifier(name)
        admin(sql.SQL("CREATE DATABASE {}").format(ident))
        try:
            entry["NAME"] = name
            yield entry
        finally:
            admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        return
    if engine.endswith("mysql"):
        import MySQLdb

        def run(statement: str) -> None:
            conn = MySQLdb.connect(
                host=configured["HOST"],
                port=configured["PORT"],
                user=configured["USER"],
                password=configured.get("PASSWORD", ""),
            )
            try:
                conn.cursor().execute(statement)
            finally:
                conn.close()

        # The name is ours (letters, digits, underscores), so quoting it is enough.
        run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            entry["NAME"] = name
            yield entry
        finally:
            run(f"DROP DATABASE IF EXISTS `{name}`")
        return
    raise ValueError(f"no scratch databases for {engine}")  # pragma: no cover
