"""Every module says what it exports in ``__all__``, and the user-facing ones are pinned.

After httpx's ``tests/test_exported_members.py``: the public surface of a module is its
``__all__``. A module that defines a public class or function without listing it, or lists a
name it does not have, fails here; so does a change to what the user-facing modules export,
which must then be a deliberate edit of ``PINNED`` (and a CHANGELOG line).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import django_celery_results

PACKAGE_DIR = Path(django_celery_results.__file__).resolve().parent


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if "migrations" in parts:
            continue  # Django's migration modules have a fixed shape of their own
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _module_names()

#: What the modules user code imports export (the package root, the old package's paths, the
#: backends Celery loads and the in-memory adapters users' own tests compose).
PINNED: dict[str, list[str]] = {
    "django_celery_results": [
        "VERSION",
        "__version__",
        "version_info",
        "version_info_t",
    ],
    "django_celery_results.backends": [
        "CacheBackend",
        "DatabaseBackend",
    ],
    "django_celery_results.backends.database": [
        "DatabaseBackend",
        "EXCEPTIONS_TO_CATCH",
        "logger",
        "trigger_callback",
    ],
    "django_celery_results.backends.cache": [
        "CacheBackend",
    ],
    "django_celery_results.models": [
        "ALL_STATES",
        "ChordCounter",
        "GroupResult",
        "TASK_STATE_CHOICES",
        "TaskResult",
    ],
    "django_celery_results.managers": [
        "GroupResultManager",
        "ResultManager",
        "TaskResultManager",
        "TxIsolationWarning",
        "W_ISOLATION_REP",
        "transaction_retry",
    ],
    "django_celery_results.urls": [
        "CeleryIdConverter",
        "TaskPatternConverter",
        "urlpatterns",
    ],
    "django_celery_results.views": [
        "group_status",
        "is_group_successful",
        "is_task_successful",
        "task_status",
    ],
    "django_celery_results.admin": [
        "ALLOW_EDITS",
        "GroupResultAdmin",
        "TaskResultAdmin",
    ],
    "django_celery_results.utils": [
        "now",
        "now_localtime",
    ],
    "django_celery_results.tasks": [
        "recover_chords",
    ],
    "django_celery_results.apps": [
        "CeleryResultConfig",
    ],
    "django_celery_results.adapters.memory": [
        "MemoryChordCounterRepository",
        "MemoryChordPartStore",
        "MemoryGroupRepository",
        "MemoryTaskRepository",
        "SystemClock",
    ],
    "django_celery_results.adapters.memory_keyvalue": [
        "MemoryKeyValueStore",
    ],
}


def _defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions whose home is ``module`` (not imported into it)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    }


def test_the_walk_finds_the_modules() -> None:
    """The checks below see the real modules (a moved package must not make them vacuous)."""
    assert "django_celery_results.celery_bridge.database" in MODULES
    assert "django_celery_results.domain.records" in MODULES
    assert not [name for name in MODULES if ".migrations" in name]


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_all(name: str) -> None:
    """Each module has ``__all__``, every name in it exists, and none is listed twice."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__ list"
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ names what the module does not have"


@pytest.mark.parametrize("name", MODULES)
def test_public_definitions_are_exported(name: str) -> None:
    """A public class or function defined in a module is in its ``__all__`` (or is private)."""
    module = importlib.import_module(name)
    unlisted = sorted(_defined_here(module) - set(getattr(module, "__all__", [])))
    assert unlisted == [], f"{name} defines public names it does not export: {unlisted}"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_user_facing_exports_are_pinned(name: str) -> None:
    """What user code imports from these modules changes only by a deliberate edit here."""
    module = importlib.import_module(name)
    assert sorted(module.__all__) == PINNED[name]
