"""The test suite: unit (no database), integration (databases, workers)."""
