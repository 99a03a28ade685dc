"""The key-value results (``domain.keyvalue``) over the memory store, by concern."""
