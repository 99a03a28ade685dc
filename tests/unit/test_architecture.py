"""Dependencies point inward: the domain imports no framework, adapters never the bridge.

Reads the source files (AST) instead of importing them, so every import counts: top level,
inside functions, under ``TYPE_CHECKING``, in ``try`` blocks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import django_celery_results

PACKAGE = "django_celery_results"
PACKAGE_DIR = Path(django_celery_results.__file__).resolve().parent
DOMAIN = f"{PACKAGE}.domain"
BRIDGE = f"{PACKAGE}.celery_bridge"
#: Frameworks the domain must not know: Django and Celery with the libraries Celery is made of.
FORBIDDEN_IN_DOMAIN = ("django", "celery", "kombu", "billiard", "vine", "amqp")


def module_name(path: Path) -> str:
    """The dotted module name of a source file under the package."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Every module ``source`` (the text of ``module``) imports, relative imports resolved.

    For ``from X import Y`` both ``X`` and ``X.Y`` are yielded, since ``Y`` may be a module.
    Calls to ``importlib.import_module`` / ``__import__`` with a literal name count as well.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and _called_name(node.func) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def imports_of(path: Path) -> list[str]:
    """The resolved imports of one source file of the package."""
    return list(
        imported_modules(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
    )


def within(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(f"{package}.")


def domain_violations(imports: list[str]) -> list[str]:
    """The imports a domain module must not make."""
    return [
        name
        for name in imports
        if any(within(name, framework) for framework in FORBIDDEN_IN_DOMAIN)
        # The package root counts as outside: ``from .. import x`` would reach past the domain.
        or (within(name, PACKAGE) and not within(name, DOMAIN))
    ]


def sources(subpackage: str) -> list[Path]:
    """Every .py file of a subpackage of django_celery_results."""
    return sorted((PACKAGE_DIR / subpackage).rglob("*.py"))


DOMAIN_FILES = sources("domain")
ADAPTER_FILES = sources("adapters")


def test_the_walk_finds_the_modules() -> None:
    """The checks below see the real files (a moved package must not make them vacuous)."""
    names = {module_name(path) for path in DOMAIN_FILES}
    assert {f"{DOMAIN}.records", f"{DOMAIN}.states", f"{DOMAIN}.ports"} <= names
    assert f"{PACKAGE}.adapters.memory" in {module_name(path) for path in ADAPTER_FILES}


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.name)
def test_domain_imports_no_framework_and_nothing_outside_domain(path: Path) -> None:
    """A domain module imports neither Django/Celery/kombu nor any package module outside domain."""
    assert domain_violations(imports_of(path)) == []


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_adapters_never_import_the_bridge(path: Path) -> None:
    """No adapter module imports celery_bridge (the bridge composes adapters, not vice versa)."""
    assert [name for name in imports_of(path) if within(name, BRIDGE)] == []


# -- the checker itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import django", ["django"]),
        ("def f():\n    from django.db import models", ["django.db"]),
        ("if TYPE_CHECKING:\n    import celery.states", ["celery.states"]),
        ("try:\n    import kombu\nexcept ImportError:\n    pass", ["kombu"]),
        ("from .. import celery_bridge", [PACKAGE, f"{PACKAGE}.celery_bridge"]),
        ("from ..adapters.memory import X", [f"{PACKAGE}.adapters.memory"]),
        ("from django_celery_results.models import T", [f"{PACKAGE}.models"]),
        ("import importlib\nimportlib.import_module('django.conf')", ["django.conf"]),
        ("__import__('celery')", ["celery"]),
    ],
)
def test_checker_flags_forbidden_imports(source: str, expected: list[str]) -> None:
    """The domain check catches imports at any depth, relative ones and dynamic ones."""
    found = list(imported_modules(source, f"{DOMAIN}.example"))
    assert set(expected) <= set(domain_violations(found)), found


@pytest.mark.parametrize(
    "source",
    [
        "from . import states",
        "from .records import TaskRecord",
        "from django_celery_results.domain import codec",
        "import attrs\nimport typing_extensions\nfrom collections.abc import Mapping",
        "import djangofake",
    ],
)
def test_checker_allows_the_domain_and_plain_libraries(source: str) -> None:
    """Imports within the domain and of non-framework libraries pass."""
    found = list(imported_modules(source, f"{DOMAIN}.example"))
    assert domain_violations(found) == []


def test_relative_imports_in_a_package_init() -> None:
    """In an __init__.py, ``from . import x`` resolves within that package."""
    found = list(imported_modules("from . import records", DOMAIN, is_package=True))
    assert found == [DOMAIN, f"{DOMAIN}.records"]


def test_bridge_check_sees_relative_imports() -> None:
    """An adapter's relative import of the bridge resolves to celery_bridge."""
    found = imported_modules(
        "from ...celery_bridge.composition import x", f"{PACKAGE}.adapters.django_orm.models"
    )
    assert any(within(name, BRIDGE) for name in found)
