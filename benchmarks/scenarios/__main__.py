"""``python -m benchmarks.scenarios run|worker ...``: one scenario process (see ``cli``)."""

from __future__ import annotations

import sys

from benchmarks.scenarios.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
