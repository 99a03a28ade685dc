"""Dependencies point inward, adapters stay apart, and no import goes round in a circle.

The domain imports no framework, adapters never the bridge, no adapter imports another, and
no module imports itself back through others.

Reads the source files (AST) instead of importing them, so every import counts: top level,
inside functions, under ``TYPE_CHECKING``, in ``try`` blocks. Only the cycle check leaves out
imports under ``TYPE_CHECKING``, which never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import django_celery_results

PACKAGE = "django_celery_results"
PACKAGE_DIR = Path(django_celery_results.__file__).resolve().parent
DOMAIN = f"{PACKAGE}.domain"
BRIDGE = f"{PACKAGE}.celery_bridge"
ADAPTERS = f"{PACKAGE}.adapters"
#: Modules under adapters/ that are no adapter of their own but shared by the Django-based ones
#: (how a Django database exception is classified matters to the ORM and to the database cache).
SHARED_BY_ADAPTERS = frozenset({f"{ADAPTERS}.db_errors"})
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


def runtime_imports(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Like ``imported_modules``, without the imports under ``if TYPE_CHECKING:`` (never run)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            node.body = [ast.Pass()]
    yield from imported_modules(ast.unparse(tree), module, is_package=is_package)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


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
PACKAGE_FILES = sorted(PACKAGE_DIR.rglob("*.py"))


def adapter_of(name: str) -> str | None:
    """The adapter a module belongs to (``...adapters.django_orm`` for its submodules), if any.

    Each subpackage or module directly under ``adapters/`` is one adapter; the shared modules
    (``SHARED_BY_ADAPTERS``) and ``adapters/__init__`` belong to none.
    """
    if not name.startswith(f"{ADAPTERS}."):
        return None
    top = ".".join(name.split(".")[:3])
    return None if top in SHARED_BY_ADAPTERS else top


def adapter_violations(module: str, imports: list[str]) -> list[str]:
    """The imports by which ``module`` (an adapter's) reaches into another adapter."""
    own = adapter_of(module)
    return [
        name
        for name in imports
        if adapter_of(name) is not None and adapter_of(name) != own and own is not None
    ]


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports when it runs (packages count as their __init__)."""
    known = {module_name(path) for path in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        module = module_name(path)
        imports = runtime_imports(
            path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
        )
        graph[module] = {name for name in imports if name in known and name != module}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


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


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_adapter_imports_another_adapter(path: Path) -> None:
    """An adapter uses the domain, Django and the shared modules, never another adapter."""
    assert adapter_violations(module_name(path), imports_of(path)) == []


def test_the_package_has_no_import_cycles() -> None:
    """No module imports itself back through others, so no import needs hiding in a function."""
    graph = import_graph(PACKAGE_FILES)
    assert f"{PACKAGE}.models" in graph  # the walk sees the package, migrations included
    assert cycles(graph) == []


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


def test_adapter_check_flags_one_adapter_importing_another() -> None:
    """ORM -> memory is flagged; the domain, Django, own modules and shared modules are not."""
    module = f"{ADAPTERS}.django_orm.managers"
    imports = [
        f"{ADAPTERS}.memory",
        f"{ADAPTERS}.django_orm.models",
        f"{ADAPTERS}.db_errors",
        f"{PACKAGE}.domain.records",
        "django.db",
    ]
    assert adapter_violations(module, imports) == [f"{ADAPTERS}.memory"]
    assert adapter_violations(f"{ADAPTERS}.django_cache.errors", [f"{ADAPTERS}.django_orm"]) == [
        f"{ADAPTERS}.django_orm"
    ]


def test_cycle_check_finds_a_cycle_and_passes_a_tree() -> None:
    """The modules a -> b -> c -> a make one cycle; a diamond without a way back has none."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) == []


def test_cycle_check_leaves_out_type_checking_imports() -> None:
    """An import under ``if TYPE_CHECKING:`` never runs, so it makes no cycle."""
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
        "from .c import C"
    )
    assert list(runtime_imports(source, f"{PACKAGE}.a")) == [
        "typing",
        "typing.TYPE_CHECKING",
        f"{PACKAGE}.c",
        f"{PACKAGE}.c.C",
    ]
