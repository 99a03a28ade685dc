"""``python -m benchmarks.fault_soak [options]``: the fault soak (see ``cli``; ``--help``)."""

from __future__ import annotations

import sys

from benchmarks.fault_soak.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
