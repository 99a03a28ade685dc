"""Every module path of the old package imports, with the names it defined (issue 9, defect 7).

A drop-in keeps the old package's module paths, because projects import from them: ``models``,
``backends``, ``urls``, but also ``utils`` (its ``now()``) and ``migrations`` (code lists the
migration files, e.g. to find the latest name). ``OLD_PUBLIC_NAMES`` records, for each module of
``django-celery-results==2.6.0``, the public names that module defines itself (``def``,
``class`` and assignments, plus its ``__all__``); what it merely imported from Django, Celery or
the standard library is not its interface. ``test_recorded_names_are_the_old_packages`` derives
the same list from the installed old package, so the record cannot drift from it.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings
from django.utils import timezone

import django_celery_results
from tests import oldpkg, schema_snapshot

PACKAGE = "django_celery_results"
LABEL = "django_celery_results"

#: The old package's migration modules, in order, then ours (recorded once, in schema_snapshot).
OLD_MIGRATIONS = tuple(schema_snapshot.MIGRATIONS)
OUR_MIGRATIONS = tuple(schema_snapshot.OUR_MIGRATIONS)

_MIGRATION_EXTRAS: dict[str, tuple[str, ...]] = {
    "0006_taskresult_date_created": (
        "copy_date_done_to_date_created",
        "reverse_copy_date_done_to_date_created",
    ),
    "0009_groupresult": ("FakeAddIndex",),
    "0010_remove_duplicate_indices": ("TryRemoveIndex",),
}

#: Module path -> the public names the old package's module defined (see the module docstring).
OLD_PUBLIC_NAMES: dict[str, tuple[str, ...]] = {
    PACKAGE: ("VERSION", "version_info", "version_info_t"),
    f"{PACKAGE}.admin": ("ALLOW_EDITS", "GroupResultAdmin", "TaskResultAdmin"),
    f"{PACKAGE}.apps": ("CeleryResultConfig",),
    f"{PACKAGE}.backends": ("CacheBackend", "DatabaseBackend"),
    f"{PACKAGE}.backends.cache": ("CacheBackend",),
    f"{PACKAGE}.backends.database": (
        "DatabaseBackend",
        "EXCEPTIONS_TO_CATCH",
        "logger",
        "trigger_callback",
    ),
    f"{PACKAGE}.managers": (
        "GroupResultManager",
        "ResultManager",
        "TaskResultManager",
        "TxIsolationWarning",
        "W_ISOLATION_REP",
        "transaction_retry",
    ),
    f"{PACKAGE}.migrations": (),
    **{
        f"{PACKAGE}.migrations.{name}": ("Migration", *_MIGRATION_EXTRAS.get(name, ()))
        for name in OLD_MIGRATIONS
    },
    f"{PACKAGE}.models": (
        "ALL_STATES",
        "ChordCounter",
        "GroupResult",
        "TASK_STATE_CHOICES",
        "TaskResult",
    ),
    f"{PACKAGE}.urls": ("TaskPatternConverter", "urlpatterns"),
    f"{PACKAGE}.utils": ("now", "now_localtime"),
    f"{PACKAGE}.views": (
        "group_status",
        "is_group_successful",
        "is_task_successful",
        "task_status",
    ),
}

#: Names still missing, each in a module another change owns; strict, so adding one fails the
#: test until it leaves this list.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _name_params() -> list[Any]:
    params = []
    for module, names in OLD_PUBLIC_NAMES.items():
        for name in names:
            owner = KNOWN_GAPS.get((module, name))
            marks = (
                [pytest.mark.xfail(strict=True, reason=f"not yet defined in {owner}")]
                if owner
                else []
            )
            params.append(pytest.param(module, name, id=f"{module}:{name}", marks=marks))
    return params


@pytest.mark.parametrize("module", list(OLD_PUBLIC_NAMES))
def test_old_module_path_imports(module: str) -> None:
    """Each module path of the old package imports."""
    importlib.import_module(module)


@pytest.mark.parametrize(("module", "name"), _name_params())
def test_old_public_name_is_there(module: str, name: str) -> None:
    """Each public name an old module defined exists at the same path."""
    assert hasattr(importlib.import_module(module), name)


def test_known_gaps_are_names_of_the_old_package() -> None:
    """The list of gaps names only real (module, name) pairs of the record."""
    assert all(name in OLD_PUBLIC_NAMES[module] for module, name in KNOWN_GAPS)


#: Run in the old package's venv: each of its modules with the public names it defines.
_LIST_OLD_NAMES = """
import ast, importlib.util, json, pkgutil
import django_celery_results as package

def defined(body):
    for node in body:
        if isinstance(node, ast.Try):
            # A try block defines its names on either path (admin.py's ALLOW_EDITS); an if
            # block only on one (the root's default_app_config, for Django < 3.2 only).
            yield from defined(node.body)
            for handler in node.handlers:
                yield from defined(handler.body)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "__all__":
                    yield from ast.literal_eval(node.value)
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        yield leaf.id

found = {}
names = [package.__name__] + [
    info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
]
for name in names:
    # Read, not imported: some modules (admin) need apps this settings module leaves out.
    with open(importlib.util.find_spec(name).origin, encoding="utf-8") as source:
        own = set(defined(ast.parse(source.read()).body))
    found[name] = sorted(n for n in own if not n.startswith("_"))
print(json.dumps(found))
"""


def test_recorded_names_are_the_old_packages() -> None:
    """OLD_PUBLIC_NAMES is exactly the old package's module paths and the names they define."""
    old = json.loads(oldpkg.run_old(_LIST_OLD_NAMES))
    recorded = {module: sorted(names) for module, names in OLD_PUBLIC_NAMES.items()}
    assert recorded == old


def test_task_pattern_converter_is_registered_under_its_old_name() -> None:
    """``<task_pattern:...>`` works in a project's url patterns, as the old urls module made it."""
    from django.urls.converters import get_converters

    from django_celery_results.urls import TaskPatternConverter

    converter = get_converters()["task_pattern"]
    assert isinstance(converter, TaskPatternConverter)
    assert re.fullmatch(converter.regex, "custom.id-1_x")
    assert not re.fullmatch(converter.regex, "a/b")


# -- migrations ------------------------------------------------------------------------------


def _migration_files() -> list[str]:
    package = importlib.import_module(f"{PACKAGE}.migrations")
    assert package.__file__ is not None
    return sorted(
        path.stem
        for path in Path(package.__file__).parent.iterdir()
        if path.suffix == ".py" and path.name != "__init__.py"
    )


def test_migrations_package_lists_every_migration_file() -> None:
    """``django_celery_results.migrations`` is a package whose directory holds 0001, 0002 ..."""
    package = importlib.import_module(f"{PACKAGE}.migrations")
    files = _migration_files()
    assert files[: len(OUR_MIGRATIONS)] == list(OUR_MIGRATIONS)
    # Numbered one after another, so the file that sorts last is the latest migration.
    assert [int(name[:4]) for name in files] == list(range(1, len(files) + 1))
    assert sorted(info.name for info in pkgutil.iter_modules(package.__path__)) == files


def test_django_loads_that_package_and_no_other() -> None:
    """Django's loader reads the app's migrations from that package, once, under the label."""
    module_name, explicit = MigrationLoader.migrations_module(LABEL)
    assert (module_name, explicit) == (f"{PACKAGE}.migrations", False)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    loaded = sorted(name for label, name in loader.disk_migrations if label == LABEL)
    files = _migration_files()
    assert loaded == files
    assert {type(loader.disk_migrations[LABEL, name]).__module__ for name in loaded} == {
        f"{PACKAGE}.migrations.{name}" for name in loaded
    }
    # What code that lists the files takes for the latest migration is Django's too.
    assert loader.graph.leaf_nodes(LABEL) == [(LABEL, files[-1])]


def test_the_package_holds_one_migrations_package() -> None:
    """No second copy of the migrations is left in the package tree (e.g. in the adapter)."""
    root = Path(django_celery_results.__file__).parent
    found = [path.relative_to(root) for path in root.rglob("migrations") if path.is_dir()]
    assert found == [Path("migrations")]


# -- the app ---------------------------------------------------------------------------------


def test_app_config_is_the_package_root_with_the_old_label() -> None:
    """The app is ``django_celery_results`` under its old label, at the package's path."""
    config = apps.get_app_config(LABEL)
    assert (config.name, config.label) == (PACKAGE, LABEL)
    assert Path(config.path) == Path(django_celery_results.__file__).parent
    assert config.models_module is importlib.import_module(f"{PACKAGE}.models")


def test_models_register_under_the_app() -> None:
    """The ORM adapter's models are the app's models, under the old label and table names."""
    from django_celery_results.adapters.django_orm import models

    assert apps.get_model(LABEL, "TaskResult") is models.TaskResult
    assert apps.get_model(LABEL, "GroupResult") is models.GroupResult
    assert apps.get_model(LABEL, "ChordCounter") is models.ChordCounter
    assert models.TaskResult._meta.db_table == "django_celery_results_taskresult"


def test_admin_pages_are_registered_once() -> None:
    """Admin autodiscovery finds the app's admin module and registers the two result pages."""
    from django_celery_results.adapters.django_orm import admin as orm_admin
    from django_celery_results.adapters.django_orm import models

    registered = {
        model: type(model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == LABEL
    }
    assert registered == {
        models.TaskResult: orm_admin.TaskResultAdmin,
        models.GroupResult: orm_admin.GroupResultAdmin,
    }
    # Importing the compatibility path again registers nothing twice (that would raise).
    importlib.reload(importlib.import_module(f"{PACKAGE}.admin"))


# -- utils -------------------------------------------------------------------------------------

UTC_NOON = datetime(2024, 7, 1, 12, 0, tzinfo=dt_timezone.utc)


@override_settings(USE_TZ=True, TIME_ZONE="UTC")
def test_now_is_aware_in_the_current_time_zone_under_use_tz() -> None:
    """With USE_TZ, utils.now() is aware, in the active time zone, and is the current time."""
    from django_celery_results.utils import now

    with timezone.override("Asia/Kolkata"):
        before = datetime.now(dt_timezone.utc)
        value = now()
        after = datetime.now(dt_timezone.utc)
    assert timezone.is_aware(value)
    assert value.utcoffset() == timedelta(hours=5, minutes=30)
    assert before <= value <= after


@override_settings(USE_TZ=False, TIME_ZONE="UTC")
def test_now_is_naive_local_time_without_use_tz() -> None:
    """Without USE_TZ, utils.now() is naive, the local time Django uses then."""
    from django_celery_results.utils import now

    before = datetime.now()
    value = now()
    after = datetime.now()
    assert timezone.is_naive(value)
    assert before <= value <= after


@override_settings(USE_TZ=True, TIME_ZONE="UTC")
def test_now_localtime_converts_aware_values_under_use_tz() -> None:
    """now_localtime() moves an aware datetime into the current time zone, same instant."""
    from django_celery_results.utils import now_localtime

    with timezone.override("America/New_York"):
        value = now_localtime(UTC_NOON)
    assert value == UTC_NOON
    assert value.utcoffset() == timedelta(hours=-4)
    assert (value.hour, value.minute) == (8, 0)


@override_settings(USE_TZ=True, TIME_ZONE="UTC")
def test_now_localtime_leaves_what_it_should_not_convert() -> None:
    """Naive datetimes, non-datetimes, use_tz=False and marked values come back unchanged."""
    from django_celery_results.utils import now_localtime

    class Marked(datetime):
        convert_to_local_time = False

    naive = datetime(2024, 7, 1, 12, 0)
    marked = Marked(2024, 7, 1, 12, 0, tzinfo=dt_timezone.utc)
    with timezone.override("America/New_York"):
        assert now_localtime(naive) is naive
        assert now_localtime("2024-07-01") == "2024-07-01"
        assert now_localtime(None) is None
        assert now_localtime(UTC_NOON, use_tz=False) is UTC_NOON
        assert now_localtime(marked) is marked


@override_settings(USE_TZ=False, TIME_ZONE="UTC")
def test_now_localtime_converts_nothing_without_use_tz_unless_asked() -> None:
    """Without USE_TZ an aware value stays as it is, unless use_tz=True asks for it."""
    from django_celery_results.utils import now_localtime

    with timezone.override("America/New_York"):
        assert now_localtime(UTC_NOON) is UTC_NOON
        assert now_localtime(UTC_NOON, use_tz=True).utcoffset() == timedelta(hours=-4)


_UTILS_SCRIPT = """
import json
from datetime import datetime, timezone as dt_timezone
from django.utils import timezone
from django_celery_results.utils import now, now_localtime

noon = datetime(2024, 1, 15, 12, 0, tzinfo=dt_timezone.utc)
with timezone.override("Asia/Tokyo"):
    current = now()
    print(json.dumps({
        "noon": now_localtime(noon).isoformat(),
        "noon_no_tz": now_localtime(noon, use_tz=False).isoformat(),
        "naive": now_localtime(datetime(2024, 1, 15, 12)).isoformat(),
        "now_aware": timezone.is_aware(current),
        "now_offset": str(current.utcoffset()),
    }))
"""


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "no-USE_TZ"])
def test_utils_answer_as_the_old_package_does(use_tz: bool) -> None:
    """now() and now_localtime() give what the old package's gave, with and without USE_TZ."""
    settings = {"USE_TZ": use_tz, "TIME_ZONE": "Europe/Paris"}
    old = json.loads(oldpkg.run_old(_UTILS_SCRIPT, settings=settings))
    ours = json.loads(oldpkg.run_current(_UTILS_SCRIPT, settings=settings))
    assert ours == old
