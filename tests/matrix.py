"""The version matrix's cells as ``noxfile.py`` lists them, read without importing nox.

``cells()`` parses ``CELLS`` from the noxfile (a literal list of tuples), so the unit tests can
hold ``pyproject.toml``'s ranges and classifiers and the README's support table to it, and
``python -m tests.matrix --check-newest`` (run by ``.ci/run``) can fail when ``.venv`` is not the
newest cell, where CI runs the whole suite.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["NOXFILE", "Cell", "cells", "installed", "main", "newest"]

NOXFILE = Path(__file__).resolve().parent.parent / "noxfile.py"


class Cell(NamedTuple):
    """One cell: feature releases of Python, Django and Celery, and the PostgreSQL driver."""

    python: str
    django: str
    celery: str
    driver: str

    @property
    def name(self) -> str:
        """The nox session's parameter id, e.g. ``py3.10-dj4.2-celery5.3-psycopg``."""
        return f"py{self.python}-dj{self.django}-celery{self.celery}-{self.driver}"


def cells(noxfile: Path = NOXFILE) -> list[Cell]:
    """The cells in the noxfile's order (the last is the newest combination)."""
    tree = ast.parse(noxfile.read_text(encoding="utf-8"), filename=str(noxfile))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "CELLS":
            return [Cell(*row) for row in ast.literal_eval(value)]
    raise LookupError(f"{noxfile} has no literal CELLS list")


def newest() -> Cell:
    """The newest combination: the noxfile's last cell."""
    return cells()[-1]


def installed() -> tuple[str, str, str]:
    """This interpreter's Python, Django and Celery feature releases (``"3.13"``, ...)."""
    import celery
    import django

    return (
        f"{sys.version_info[0]}.{sys.version_info[1]}",
        ".".join(str(part) for part in django.VERSION[:2]),
        ".".join(celery.__version__.split(".")[:2]),
    )


def main(argv: list[str]) -> int:
    """``--check-newest``: exit 1 unless this interpreter runs the newest cell's versions."""
    if argv != ["--check-newest"]:
        sys.stderr.write("usage: python -m tests.matrix --check-newest\n")
        return 2
    want = newest()
    have = installed()
    line = f"Python {have[0]}, Django {have[1]}, Celery {have[2]}"
    if have != (want.python, want.django, want.celery):
        sys.stderr.write(
            f"this venv runs {line}, but the newest cell of noxfile.py is {want.name}: "
            "the whole suite must run on the newest combination (install that Python, or "
            "update CELLS and pyproject.toml's ranges)\n"
        )
        return 1
    sys.stdout.write(f"{line}: the newest cell of the matrix ({want.name})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
