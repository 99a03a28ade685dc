"""What we say we support matches what the matrix tests (issue 11).

``noxfile.py``'s cells are the truth; ``pyproject.toml``'s classifiers and dependency ranges and
the README's support table must say the same, and the cells must cover every version at least
once, the oldest together and the newest together.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.matrix import Cell, cells, newest

ROOT = Path(__file__).resolve().parents[2]
#: pyproject.toml's text: its quoted strings are read with patterns, since tomllib needs 3.11.
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: Python versions each Django feature release supports (Django's release notes).
DJANGO_PYTHONS = {
    "4.2": {"3.10", "3.11", "3.12"},
    "5.2": {"3.10", "3.11", "3.12", "3.13"},
    "6.0": {"3.12", "3.13"},
    "6.1": {"3.12", "3.13"},
}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _classified(prefix: str) -> set[str]:
    """The versions after ``prefix`` in the classifiers (``Framework :: Django :: 4.2``)."""
    return set(re.findall(r'^\s*"' + re.escape(prefix) + r' :: (\d+\.\d+)",$', PYPROJECT, re.M))


def _requirement(name: str) -> Requirement:
    dependencies = PYPROJECT.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    for line in re.findall(r'^\s*"([^"]+)",$', dependencies, re.M):
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise LookupError(name)


def test_cells_are_well_formed() -> None:
    """Each cell is a supported pairing, and every Celery has its kombu pin."""
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    for cell in cells():
        assert cell.python in DJANGO_PYTHONS[cell.django], cell
        assert cell.driver in {"psycopg", "psycopg2"}, cell
        assert f'"{cell.celery}": "kombu' in noxfile, f"KOMBU has no pin for Celery {cell.celery}"


def test_every_version_is_in_some_cell() -> None:
    """Every Python, Django and Celery we claim, and both PostgreSQL drivers, run somewhere."""
    all_cells = cells()
    assert {c.python for c in all_cells} == _classified("Programming Language :: Python")
    assert {c.django for c in all_cells} == _classified("Framework :: Django")
    assert {c.celery for c in all_cells} == {"5.3", "5.4", "5.5", "5.6", "5.7"}
    assert {c.driver for c in all_cells} == {"psycopg", "psycopg2"}


def test_oldest_together_and_newest_together() -> None:
    """One cell has the oldest of everything; the last (newest) has the newest of everything."""
    all_cells = cells()
    oldest = Cell(
        min((c.python for c in all_cells), key=_key),
        min((c.django for c in all_cells), key=_key),
        min((c.celery for c in all_cells), key=_key),
        "psycopg",
    )
    assert any(c[:3] == oldest[:3] for c in all_cells), oldest
    top = newest()
    assert top.python == max((c.python for c in all_cells), key=_key)
    assert top.django == max((c.django for c in all_cells), key=_key)
    assert top.celery == max((c.celery for c in all_cells), key=_key)
    assert top.driver == "psycopg", "the whole suite runs on the newest cell, with psycopg 3"


@pytest.mark.parametrize("name", ["django", "celery"])
def test_dependency_ranges_allow_exactly_the_tested_releases(name: str) -> None:
    """Each tested feature release installs; the next one up, and untested ones, do not."""
    specifier = _requirement(name).specifier
    tested = {getattr(c, name) for c in cells()}
    for release in tested:
        assert specifier.contains(Version(f"{release}.0")), (name, release)
        assert specifier.contains(Version(f"{release}.99")), (name, release)
    major, minor = _key(max(tested, key=_key))
    assert not specifier.contains(Version(f"{major}.{minor + 1}.0")), "no upper bound"
    assert not specifier.contains(Version(f"{major + 1}.0.0")), "no upper bound"
    lowest_major, lowest_minor = _key(min(tested, key=_key))
    assert not specifier.contains(Version(f"{lowest_major}.{lowest_minor - 1}.99"))
    if name == "django":
        for untested in ("5.0", "5.1"):
            assert not specifier.contains(Version(f"{untested}.0")), untested


def test_readme_table_lists_the_cells() -> None:
    """The README's support table has one row per cell, in the noxfile's order."""
    section = README.split("### Supported versions", 1)[1].split("\n#", 1)[0]
    rows = re.findall(
        r"^\| (3\.\d+) \| (\d\.\d) \| (5\.\d) \| (psycopg 3|psycopg2) \| ", section, re.M
    )
    assert rows, "README.md has no support table"
    listed = [
        (py, dj, cel, "psycopg" if drv == "psycopg 3" else "psycopg2") for py, dj, cel, drv in rows
    ]
    assert listed == [tuple(c) for c in cells()]
    assert (
        "the whole suite"
        in section.splitlines()[
            next(
                i
                for i, line in enumerate(section.splitlines())
                if line.startswith(f"| {newest().python} | {newest().django} |")
            )
        ]
    )


def test_requires_python_matches_the_oldest_cell() -> None:
    """``requires-python`` starts at the oldest Python the matrix runs."""
    oldest = min((c.python for c in cells()), key=_key)
    assert f'\nrequires-python = ">={oldest}"\n' in PYPROJECT
