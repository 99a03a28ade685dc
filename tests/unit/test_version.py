"""The version is written once (``pyproject.toml``) and read from the package metadata (issue 10).

``django_celery_results.__version__`` comes from the installed distribution's metadata, which
``pip install`` builds from ``pyproject.toml``; ``VERSION`` / ``version_info`` are the old
package's numeric form of it. A ``pyproject.toml`` bumped without reinstalling (an editable
install keeps the metadata of its last install) fails ``test_pyproject_and_package_agree``:
run ``pip install -e .`` (or ``./scripts/test``, which reinstalls when ``pyproject.toml`` changes).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import django_celery_results

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pyproject_version() -> str:
    """``version`` of the ``[project]`` table (a regex, so Python 3.10 needs no TOML parser)."""
    text = PYPROJECT.read_text()
    table = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert table is not None, f"no [project] table in {PYPROJECT}"
    version = re.search(r'^version\s*=\s*"([^"]+)"\s*$', table.group(1), re.MULTILINE)
    assert version is not None, f"no version in the [project] table of {PYPROJECT}"
    return version.group(1)


def test_pyproject_and_package_agree() -> None:
    """``__version__`` is the version ``pyproject.toml`` holds."""
    assert django_celery_results.__version__ == _pyproject_version()


def test_version_comes_from_the_distribution_metadata() -> None:
    """``__version__`` is the installed distribution's version, not a copy in the code."""
    installed = importlib.metadata.version("celery-results-django")
    assert django_celery_results.__version__ == installed


def test_version_info_is_the_version_as_numbers() -> None:
    """``VERSION`` and ``version_info`` are one ``version_info_t`` of ``__version__``'s numbers."""
    version = django_celery_results.VERSION
    assert version is django_celery_results.version_info
    assert isinstance(version, django_celery_results.version_info_t)
    assert isinstance(version, tuple)
    assert version._fields == ("major", "minor", "micro", "releaselevel", "serial")
    text = f"{version.major}.{version.minor}.{version.micro}{version.releaselevel}"
    assert text == django_celery_results.__version__
    assert version >= (0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.6.0", (2, 6, 0, "", "")),
        ("1.2.3rc1", (1, 2, 3, "rc1", "")),
        ("1.2.3.post1", (1, 2, 3, ".post1", "")),
        ("1.2", (1, 2, 0, "", "")),
        ("0.0.0+unknown", (0, 0, 0, "+unknown", "")),
    ],
)
def test_version_text_parses_as_the_old_package_did(
    text: str, expected: tuple[int, int, int, str, str]
) -> None:
    """A version's numbers, then the rest as the release level, as the old ``VERSION`` had them."""
    assert tuple(django_celery_results._parse_version(text)) == expected


def test_uninstalled_distribution_reads_as_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported from a source tree that is not installed, the version says it is unknown."""

    def not_installed(distribution: str) -> str:
        raise importlib.metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert django_celery_results._installed_version() == "0.0.0+unknown"
    assert django_celery_results._parse_version("0.0.0+unknown") < (0, 0, 1)
