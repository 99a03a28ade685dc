"""The README's configuration snippets run as pasted (issue 14).

A fenced ``python`` block preceded by ``<!-- snippet: proj/settings.py -->`` is a whole file of
the README's example project; ``<!-- snippet: proj/settings.py append=cache -->`` is added to
the end of that file (as a reader adds it to their settings) in a project variant of its own,
here ``cache``. Each variant is written into an empty directory exactly as the README shows it
and run in a subprocess with this interpreter (``PYTHONPATH`` and the working directory the
project's, deprecations as errors): ``python -m django check`` (warnings fail it too),
``migrate``, then a script that imports ``proj.celery``'s app and stores a task's STARTED and
SUCCESS through ``app.backend``, reads them back with ``AsyncResult`` and through the JSON view
at the README's URL. The database is
SQLite and the ``cache`` variant's cache a database cache, so no server is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests import deprecations

README = Path(__file__).resolve().parents[2] / "README.md"

#: A marked block: the marker line, then a fenced python block right after it.
SNIPPET = re.compile(
    r"^<!-- snippet: (?P<path>[\w./]+)(?: append=(?P<variant>\w+))? -->\n"
    r"```python\n(?P<code>.*?)^```$",
    re.M | re.S,
)
#: A marker not followed by a fenced python block (a marker the pattern above would skip).
MARKER = re.compile(r"^<!-- snippet: .*-->$", re.M)

#: The base project is the variant "" (the whole files).
BASE = ""

#: What each variant must show, beyond the common checks of the probe.
EXPECTED_BACKEND = {
    BASE: "DatabaseBackend",
    "cache": "CacheBackend",
    "outages": "DatabaseBackend",
    "recovery": "DatabaseBackend",
    "retention": "DatabaseBackend",
    "schedule": "DatabaseBackend",
}
#: The beat schedule each variant sets up (Celery adds backend_cleanup itself, at beat's start).
EXPECTED_BEAT = {"recovery": ["recover-chords"], "schedule": ["backend_cleanup"]}

#: Run in the project: store a task's STARTED then SUCCESS through the configured backend,
#: read them back with AsyncResult, and report what the settings made of them.
PROBE = textwrap.dedent(
    """
    import json
    import uuid

    import django

    from proj.celery import app

    django.setup()

    from celery.result import AsyncResult
    from django.conf import settings

    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, {"pid": 1, "hostname": "celery@probe"}, "STARTED")
    started = AsyncResult(task_id, app=app).state
    app.backend.store_result(task_id, {"answer": 42}, "SUCCESS")
    result = AsyncResult(task_id, app=app)
    report = {
        "backend": type(app.backend).__name__,
        "started": started,
        "state": result.state,
        "result": result.get(timeout=10),
        "always_retry": app.backend.always_retry,
        "max_retries": app.backend.max_retries,
        "expires": app.conf.result_expires.total_seconds(),
        "extended": app.conf.result_extended,
        "track_started": app.conf.task_track_started,
    }
    if report["backend"] == "DatabaseBackend":
        from django_celery_results.models import TaskResult

        row = TaskResult.objects.get(task_id=task_id)
        report["date_started"] = row.date_started is not None
    else:
        report["cache_alias"] = app.backend.cache_alias
        report["cache_backend"] = settings.CACHES[app.backend.cache_alias]["BACKEND"]
    # The JSON view at the README's URL, as a browser would read it.
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()  # the test client's host, "testserver", is allowed
    url = reverse("celery-task_status", args=[task_id])
    response = Client().get(url)
    report["view"] = [url.replace(task_id, "<id>"), response.status_code, response.json()]
    # Celery's daily backend_cleanup, with the settings' retention: a fresh result stays.
    app.backend.cleanup()
    report["after_cleanup"] = AsyncResult(task_id, app=app).state
    # What a worker does at start-up: import the modules autodiscovery names.
    app.loader.import_default_modules()
    report["recover_task"] = "django_celery_results.recover_chords" in app.tasks
    report["beat"] = sorted(app.conf.beat_schedule)
    print(json.dumps(report))
    """
)


def snippets(text: str) -> dict[str, dict[str, str]]:
    """The README's marked snippets: variant -> relative path -> the file as pasted."""
    found = list(SNIPPET.finditer(text))
    assert len(found) == len(MARKER.findall(text)), "a snippet marker with no python block"
    base: dict[str, str] = {}
    appended: dict[str, dict[str, str]] = {}
    for match in found:
        path, variant, code = match["path"], match["variant"], match["code"]
        if variant is None:
            assert path not in base, f"two snippets are {path}"
            base[path] = code
        else:
            appended.setdefault(variant, {})[path] = code
    variants = {BASE: base}
    for variant, files in appended.items():
        merged = dict(base)
        for path, code in files.items():
            assert path in base, f"{variant} appends to {path}, which no snippet writes"
            merged[path] = base[path] + "\n" + code
        variants[variant] = merged
    return variants


def write_project(root: Path, files: dict[str, str]) -> None:
    """Each file under ``root``, as pasted."""
    for path, code in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the project: its directory, its path, its settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CELERY_", "TEST_")) and name != "PYTHONPATH"
    }
    env.update(DJANGO_SETTINGS_MODULE="proj.settings", PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=deprecations.environ(env),
        cwd=root,
        timeout=120,
    )


def run_ok(root: Path, *args: str) -> str:
    """``run`` that must succeed; its stdout."""
    done = run(root, *args)
    assert done.returncode == 0, f"python {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def set_up(root: Path, files: dict[str, str]) -> None:
    """Write the project, then what the README says to run: check, the cache table, migrate."""
    write_project(root, files)
    run_ok(root, "-m", "django", "createcachetable")  # a no-op without a database cache
    run_ok(root, "-m", "django", "check", "--fail-level", "WARNING", "--database", "default")
    run_ok(root, "-m", "django", "migrate", "--no-input")


def set_up_and_probe(root: Path, files: dict[str, str]) -> dict[str, Any]:
    """``set_up`` then ``probe``."""
    set_up(root, files)
    return probe(root)


def probe(root: Path) -> dict[str, Any]:
    """The probe's report."""
    lines = run_ok(root, "-c", PROBE).strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def test_the_readme_marks_its_snippets() -> None:
    """The complete project and each addition to it are marked, so the tests below run them."""
    variants = snippets(README.read_text(encoding="utf-8"))
    assert set(variants[BASE]) == {
        "proj/settings.py",
        "proj/celery.py",
        "proj/__init__.py",
        "proj/urls.py",
    }
    assert set(variants) == set(EXPECTED_BACKEND)


@pytest.mark.parametrize("variant", sorted(EXPECTED_BACKEND))
def test_snippets_run_as_pasted(variant: str, tmp_path: Path) -> None:
    """check, migrate, and a result stored and read back through the configured backend."""
    report = set_up_and_probe(tmp_path, snippets(README.read_text(encoding="utf-8"))[variant])
    assert report["backend"] == EXPECTED_BACKEND[variant]
    assert (report["started"], report["state"], report["result"]) == (
        "STARTED",
        "SUCCESS",
        {"answer": 42},
    )
    # The README's settings are the ones in force: retries bounded, autodiscovery registering
    # the package's task.
    assert report["extended"] is True
    assert report["track_started"] is True
    assert report["expires"] == (6 if variant == "cache" else 7 * 24) * 3600
    assert report["always_retry"] is True
    assert report["max_retries"] == 30
    assert report["recover_task"] is True
    if variant == "cache":
        assert report["cache_alias"] == "celery-results"
        assert report["cache_backend"] == "django.core.cache.backends.db.DatabaseCache"
    else:
        assert report["date_started"] is True  # CELERY_TASK_TRACK_STARTED's column
    assert report["after_cleanup"] == "SUCCESS"
    url, status, body = report["view"]
    assert (url, status) == ("/celery-results/<id>/status/", 200)
    assert body["task"]["status"] == "SUCCESS"
    assert body["task"]["result"] == {"answer": 42}
    assert report["beat"] == EXPECTED_BEAT.get(variant, [])


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        # check: a retention the parser refuses.
        ('DJANGO_CELERY_RESULTS_RETENTION = {"success": 60}\n', "django_celery_results.E009"),
        # the probe: a backend that does not exist.
        ('CELERY_RESULT_BACKEND = "django-dbb"\n', "django-dbb"),
        # import: a settings file that is not Python.
        ("CELERY_RESULT_EXPIRES = timedelta(days=7\n", "SyntaxError"),
    ],
)
def test_a_broken_snippet_fails(broken: str, expected: str, tmp_path: Path) -> None:
    """The steps above catch a snippet edited into something that does not run."""
    files = dict(snippets(README.read_text(encoding="utf-8"))[BASE])
    files["proj/settings.py"] += "\n" + broken
    with pytest.raises(AssertionError, match=re.escape(expected)):
        set_up_and_probe(tmp_path, files)
