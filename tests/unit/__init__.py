"""Unit tests: the domain and the memory adapter, no database and no broker."""
