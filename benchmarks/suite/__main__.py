"""``python -m benchmarks.suite [options]``: the benchmark suite (see ``cli``; ``--help``)."""

from __future__ import annotations

import sys

from benchmarks.suite.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
