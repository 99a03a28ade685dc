"""Benchmarks: the same scenarios against this package, the old one and the bare driver."""

from __future__ import annotations
